"""Typed audit records: every kind round-trips through the canonical JSON the chain hashes,
and every path that writes a kind (chat, the decision API, webhooks, the CSV import, the
command line) writes the same keys, so `audit export` has one column set per kind."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import pytest

from bot.csv_import import import_files
from handlers import admin, audit
from handlers.allocations import AllocationRequest, Approval, allocate
from handlers.case_events import apply_event
from handlers.chat.channels import link_channel
from handlers.chat.commands import Asker, LinkChannel
from handlers.decisions import decide_proposal
from handlers.events import parse_event
from handlers.ports import AuditKind, Source
from policy import Case, Outcome, Override, Role, StaffRole, parse_policy
from storage.audit import canonical
from storage.repositories import Storage
from tests.alerts.paths import alert_paths
from tests.conftest import T0, TINY_POLICY
from tests.imports.helpers import allocations_file, staff_file

SAMPLES: list[audit.AuditRecord] = [
    audit.OrganisationCreated(name="Acme Council", policy="tiny", version="1"),
    audit.TokenCreated(token_id=3, label="case system"),
    audit.TokenRevoked(token_id=3, label=""),
    audit.WebhookSecretSet(secret_id=1, previous_valid_until=None),
    audit.WebhookSecretSet(secret_id=2, previous_valid_until=T0),
    audit.DecisionMade(
        worker="NQ-1",
        case="C-1",
        role="lead",
        on=dt.date(2025, 3, 3),
        source=Source.CHAT,
        outcome=Outcome.CO_WORK,
        overridden=False,
        policy="tiny",
        policy_version="1",
        month_of_practice=1.9,
        children_after=4,
        children_cap=3.0,
        points_after=0.0,
        points_cap=None,
        reasons=(audit.ReasonEntry(rule="cp", clause="1.1", effect=Outcome.DENY, overridden=True),),
    ),
    audit.OverrideApproved(
        worker="NQ-1",
        case="C-1",
        rules=("cp",),
        approver=None,
        approver_role="service_manager",
        justification="Agreed in supervision",
    ),
    audit.AllocationStarted(
        worker="NQ-1",
        case="C-1",
        role="co_work",
        from_=dt.date(2025, 3, 3),
        source=Source.WEBHOOK,
        policy_outcome=None,
        blocking_rules=(),
        overrides=("cp",),
    ),
    audit.AllocationEnded(
        worker="NQ-1",
        case="C-1",
        role="lead",
        to=dt.date(2025, 4, 1),
        source=Source.IMPORT,
        reason="role_changed",
    ),
    audit.BreachOpened(worker="NQ-1", rule="cap", clause="1.2", cases=("C-1", "C-2"), on=T0.date()),
    audit.BreachResolved(worker="NQ-1", rule="cap", clause="1.2", cases=(), on=T0.date()),
    audit.BreachResolved(
        worker="NQ-1", rule="cap", clause="1.2", cases=("C-1",), on=T0.date(), by="TM-1", reason="x"
    ),
    audit.BreachAcknowledged(worker="NQ-1", rule="cap", cases=("C-1",), by="TM-1", plan=None),
    audit.BreachEscalated(
        worker="NQ-1", rule="cap", cases=("C-1",), step=2, notify=("team_manager",), clause="4.1"
    ),
    audit.SupervisionRecorded(worker="NQ-1", on=T0.date(), source=Source.CHAT),
    audit.DeliveryParked(
        message=7, topic="escalation", platform="slack", target="C1", attempts=5, error="HTTP 500"
    ),
    audit.ChannelLinked(team="T-1", platform="teams", channel="19:alerts@thread.tacv2"),
    audit.EqualityViewSet(attributes=("ethnicity", "sex"), values_erased=3),
]


def test_every_kind_has_one_record_type() -> None:
    assert set(audit.RECORDS) == set(AuditKind)
    assert {type(s).kind for s in SAMPLES} == set(AuditKind)


@pytest.mark.parametrize("record", SAMPLES, ids=lambda r: type(r).__name__)
def test_a_record_round_trips_through_the_hashed_json(record: audit.AuditRecord) -> None:
    stored = canonical(record.data())
    assert audit.parse_record(record.kind.value, stored) == record
    assert list(json.loads(stored)) == sorted(audit.field_names(record.kind))


async def _every_path(storage: Storage, org: str) -> None:
    """Write every kind from every path that writes it."""
    at = T0
    _, record = await admin.create_token(storage, org, "api", "cli", at)
    await admin.revoke_token(storage, org, record.id, "cli", at)
    await admin.set_webhook_secret(storage, org, "cli", at)
    await admin.set_webhook_secret(storage, org, "cli", at)
    await admin.set_equality_view(storage, org, ["ethnicity"], "cli", at)

    def event(type_: str, data: dict[str, object], minutes: int) -> object:
        body = {
            "type": type_,
            "occurred_at": (at + dt.timedelta(minutes=minutes)).isoformat(),
            "org": org,
            "data": data,
        }
        return parse_event(json.dumps(body))

    events = [
        ("team.upserted", {"ref": "T-1", "name": "Team", "kind": "assessment"}),
        (
            "worker.upserted",
            {"ref": "SM-1", "name": "S M", "roles": ["service_manager"], "team_ref": "T-1"},
        ),
        (
            "worker.upserted",
            {
                "ref": "TM-9",
                "name": "T M",
                "roles": ["team_manager"],
                "team_ref": "T-1",
                "chat": {"teams_tenant_id": "tenant-1", "teams_aad_object_id": "aad-tm-9"},
            },
        ),
        (
            "worker.upserted",
            {
                "ref": "NQ-1",
                "name": "N Q",
                "roles": ["nqsw"],
                "team_ref": "T-1",
                "asye": {"start": "2025-01-06"},
            },
        ),
        ("case.upserted", {"ref": "C-1", "work_type": "child_in_need", "children": 2}),
        ("case.upserted", {"ref": "C-2", "work_type": "child_protection", "children": 1}),
        ("case.upserted", {"ref": "C-3", "work_type": "child_in_need", "children": 2}),
        ("allocation.started", {"case_ref": "C-1", "worker_ref": "NQ-1", "role": "lead"}),
        ("allocation.started", {"case_ref": "C-3", "worker_ref": "NQ-1", "role": "lead"}),
        ("allocation.ended", {"case_ref": "C-3", "worker_ref": "NQ-1"}),
        ("case.upserted", {"ref": "C-5", "work_type": "child_protection", "children": 1}),
        ("allocation.started", {"case_ref": "C-5", "worker_ref": "NQ-1", "role": "lead"}),
    ]
    for minutes, (type_, data) in enumerate(events):
        await apply_event(storage, f"msg_{minutes}", event(type_, data, minutes), at)  # type: ignore[arg-type]

    on = dt.date(2025, 1, 6)
    chat = AllocationRequest(org, "C-2", "NQ-1", Role.LEAD, on, Source.CHAT, "person:SM-1")
    approval = Approval("SM-1", StaffRole.SERVICE_MANAGER, "Agreed in supervision today")
    await allocate(storage, chat, at)  # refused: the CP gate
    await allocate(
        storage,
        AllocationRequest(
            org, "C-2", "NQ-1", Role.LEAD, on, Source.CHAT, "person:SM-1", approval=approval
        ),
        at,
    )
    await allocate(
        storage,
        AllocationRequest(org, "C-1", "NQ-1", Role.CO_WORK, on, Source.CHAT, "person:SM-1"),
        at,
    )  # a role change: ends the lead allocation
    proposal = Case(case_id="C-9", work_type="child_protection", children=1)
    override = Override(
        justification="Agreed in supervision today", approver_role=StaffRole.SERVICE_MANAGER
    )
    await decide_proposal(storage, org, "NQ-1", proposal, on, override, "api:token:1", at)
    await decide_proposal(storage, org, "NQ-1", proposal, on, None, "api:token:1", at)
    channel = LinkChannel("T-1", "19:alerts@thread.tacv2")
    await link_channel(storage, Asker("teams", "tenant-1", "aad-tm-9"), channel, at)
    staff = staff_file()
    report = await import_files(
        storage, org, staff, allocations_file(), at=at + dt.timedelta(hours=1)
    )
    assert report.imported and report.failure is None, report
    await alert_paths(storage, org, "TM-9", at + dt.timedelta(hours=2))


async def test_every_path_writes_each_kind_with_the_same_keys(storage: Storage) -> None:
    org = "acme"
    policy = parse_policy(TINY_POLICY, "tiny.yaml")
    await admin.create_organisation(
        storage, org, "Acme", policy, "tiny.yaml", TINY_POLICY, "cli", T0
    )
    await _every_path(storage, org)
    keys: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    sources: dict[str, set[str]] = defaultdict(set)
    end = T0 + dt.timedelta(days=30)
    async for row in admin.audit_rows(storage, org, T0 - dt.timedelta(days=1), end):
        data = json.loads(row.data)
        keys[row.kind].add(tuple(sorted(data)))
        sources[row.kind].add(data.get("source", row.actor))
        audit.parse_record(row.kind, row.data)  # every stored row is its kind's record
    assert set(keys) == {k.value for k in AuditKind}
    for kind, found in keys.items():
        assert found == {tuple(sorted(audit.field_names(AuditKind(kind))))}, kind
    # The same kind really came from several paths.
    assert sources["allocation_started"] == {"chat", "webhook", "import"}
    assert sources["allocation_ended"] >= {"chat", "webhook"}
    assert sources["decision"] == {"chat", "api"}
