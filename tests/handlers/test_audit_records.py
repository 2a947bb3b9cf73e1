"""The audit chain is permanent: every kind of row the use cases write carries exactly the
fields of its record type, under the names an inspector's export shows (`from`, not
`from_`), and reads back as the record that was written."""

from __future__ import annotations

import json

import pytest

from handlers import admin
from handlers.allocations import AllocationRequest, Approval, allocate
from handlers.audit import field_names, parse_record
from handlers.case_events import apply_event
from handlers.chat.channels import link_channel
from handlers.chat.commands import Asker, LinkChannel
from handlers.decisions import decide_proposal
from handlers.ports import AuditKind, Source
from policy import Case, Override, Role, StaffRole
from tests.alerts.paths import alert_paths
from tests.fakes import FakeTransactions
from tests.handlers.world import JUSTIFICATION, MONTH_7, STOKE, T0, Given, event, given


async def _every_use_case(tx: FakeTransactions) -> None:
    await given(tx, Given(reviews=(3, 6), cases={"CP-1": ("child_protection", 1)}))
    _, token = await admin.create_token(tx, STOKE, "rota", "cli", T0)
    await admin.revoke_token(tx, STOKE, token.id, "cli", T0)
    await admin.set_webhook_secret(tx, STOKE, "cli", T0)
    await admin.set_equality_view(tx, STOKE, ["ethnicity", "sex"], "cli", T0)
    await admin.set_equality_view(tx, STOKE, None, "cli", T0)
    await decide_proposal(
        tx,
        STOKE,
        "NQ-1",
        Case(case_id="CP-1", work_type="child_protection", children=1),
        MONTH_7,
        Override(justification=JUSTIFICATION, approver_role=StaffRole.TEAM_MANAGER),
        "api:token:1",
        T0,
    )
    approval = Approval("TM-1", StaffRole.TEAM_MANAGER, JUSTIFICATION)
    request = AllocationRequest(
        STOKE, "CP-1", "NQ-1", Role.LEAD, MONTH_7, Source.CHAT, "person:TM-1", approval
    )
    await allocate(tx, request, T0)
    await apply_event(
        tx,
        "d-1",
        event("case.upserted", {"ref": "C-1", "work_type": "child_protection", "children": 1}),
        at=T0,
    )
    started = {"case_ref": "C-1", "worker_ref": "NQ-1", "role": "lead"}
    await apply_event(tx, "d-2", event("allocation.started", started), at=T0)
    await alert_paths(tx, STOKE, "TM-1", T0)
    ended = {"case_ref": "C-1", "worker_ref": "NQ-1"}
    await apply_event(tx, "d-3", event("allocation.ended", ended), at=T0)
    async with tx.write() as uow:
        manager = await uow.people.ensure(STOKE, "TM-1")
        await uow.directory.link(manager, "teams", "tenant-1", "aad-tm-1")
    channel = LinkChannel("T-1", "19:alerts@thread.tacv2")
    await link_channel(tx, Asker("teams", "tenant-1", "aad-tm-1"), channel, T0)


@pytest.mark.parametrize(
    "kind",
    [k for k in AuditKind],
    ids=str,
)
async def test_every_kind_carries_exactly_its_fields(tx: FakeTransactions, kind: AuditKind) -> None:
    await _every_use_case(tx)
    rows = [row for row in tx.state.audit[STOKE] if row.kind == kind]
    assert rows, f"no use case wrote a {kind} row"
    for row in rows:
        data = json.loads(row.data)
        assert sorted(data) == sorted(field_names(kind))
        assert parse_record(row.kind, row.data).data() == data
