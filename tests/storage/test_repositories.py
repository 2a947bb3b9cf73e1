"""Repositories: out-of-order events, placeholders, identities, caseload dates, tokens."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from handlers import admin
from handlers.errors import OrganisationExists
from handlers.ports import Receipt, Source
from policy import Role, StaffRole, parse_policy
from storage.models import ApiToken, Team
from storage.repositories import Storage
from tests.conftest import T0, TINY_POLICY

HOUR = dt.timedelta(hours=1)


async def test_an_older_event_never_overwrites_newer_state(storage: Storage, org: str) -> None:
    async with storage.write() as s:
        assert await s.cases.upsert(
            org, "C-1", work_type="child_protection", children=2, occurred_at=T0
        )
        assert not await s.cases.upsert(
            org, "C-1", work_type="child_in_need", children=1, occurred_at=T0 - HOUR
        )
        assert not await s.cases.upsert(  # a redelivery changes nothing
            org, "C-1", work_type="child_protection", children=2, occurred_at=T0
        )
        assert await s.cases.upsert(
            org, "C-1", work_type="child_protection", children=3, occurred_at=T0 + HOUR
        )
        assert not await s.cases.close(org, "C-1", dt.date(2025, 1, 1), T0)
    async with storage.read() as s:
        case = await s.cases.get(org, "C-1")
    assert case is not None and (case.work_type, case.children, case.closed_on) == (
        "child_protection",
        3,
        None,
    )


async def test_people_refer_to_teams_and_managers_not_yet_known(storage: Storage, org: str) -> None:
    async with storage.write() as s:
        await s.people.upsert(
            org,
            "NQ-1",
            display_name="Sam Worker",
            roles=[StaffRole.NQSW],
            team_ref="T-1",
            manager_ref="TM-1",
            occurred_at=T0,
        )
        # The manager's own, earlier event arrives later: it still fills the placeholder.
        assert await s.people.upsert(
            org,
            "TM-1",
            display_name="Kim Manager",
            roles=[StaffRole.TEAM_MANAGER],
            team_ref="T-1",
            manager_ref=None,
            occurred_at=T0 - HOUR,
        )
        assert await s.teams.upsert(
            org,
            "T-1",
            name="Assessment East",
            kind="assessment",
            slack_channel_id="C123",
            teams_channel_id=None,
            occurred_at=T0 - HOUR,
        )
    async with storage.read() as s:
        nq, tm = await s.people.get(org, "NQ-1"), await s.people.get(org, "TM-1")
        assert nq is not None and tm is not None
        assert nq.manager_id == tm.id and tm.display_name == "Kim Manager"
        assert tm.roles == frozenset({StaffRole.TEAM_MANAGER})
        assert nq.team_id is not None
        team = await s.teams.get(org, "T-1")
        assert team is not None and team.id == nq.team_id and team.slack_channel_id == "C123"
        assert len(list(await s.session.scalars(select(Team)))) == 1


async def test_chat_identity_maps_to_one_person(storage: Storage, org: str) -> None:
    async with storage.write() as s:
        ids = []
        for ref in ("A", "B"):
            await s.people.upsert(
                org,
                ref,
                display_name=ref,
                roles=[],
                team_ref=None,
                manager_ref=None,
                occurred_at=T0,
            )
            person = await s.people.get(org, ref)
            assert person is not None
            ids.append(person.id)
        assert await s.directory.link(ids[0], "slack", "T01", "U01")
        assert not await s.directory.link(ids[0], "slack", "T01", "U01")
        assert await s.directory.link(ids[1], "slack", "T01", "U01")  # moved, not duplicated
        await s.directory.link(ids[0], "teams", "tenant-1", "aad-1")
    async with storage.read() as s:
        slack = await s.directory.person("slack", "T01", "U01")
        teams = await s.directory.person("teams", "tenant-1", "aad-1")
        assert slack is not None and slack.ref == "B"
        assert teams is not None and teams.ref == "A"
        assert await s.directory.person("teams", "tenant-1", "U01") is None
        assert await s.directory.person("slack", "tenant-1", "aad-1") is None


async def test_asye_record_becomes_the_policy_worker(storage: Storage, org: str) -> None:
    async with storage.write() as s:
        await s.people.upsert(
            org,
            "NQ-1",
            display_name="N",
            roles=[StaffRole.NQSW],
            team_ref=None,
            manager_ref=None,
            occurred_at=T0,
        )
        nq = await s.people.get(org, "NQ-1")
        assert nq is not None
        assert await s.people.asye_worker(nq.id) is None
        await s.people.set_asye(
            nq.id, start=dt.date(2025, 1, 6), fte=0.8, assessor_ref="AS-1", occurred_at=T0
        )
        start, end = dt.date(2025, 3, 1), dt.date(2025, 3, 31)
        await s.people.record_pause(nq.id, start=start, end=None, reason="sickness", occurred_at=T0)
        await s.people.record_pause(
            nq.id, start=start, end=end, reason="sickness", occurred_at=T0 + HOUR
        )
        await s.people.record_review(nq.id, month=3, passed=True, on=end, occurred_at=T0)
        await s.people.record_review(nq.id, month=6, passed=False, on=end, occurred_at=T0)
        await s.people.record_agreement(nq.id, agreement="cp_shadowing", on=end, occurred_at=T0)
        worker = await s.people.asye_worker(nq.id)
    assert worker is not None
    assert (worker.asye_start, worker.fte) == (dt.date(2025, 1, 6), 0.8)
    assert [(p.start, p.end) for p in worker.pauses] == [(start, end)]
    assert worker.reviews_passed == frozenset({3})
    assert worker.agreements == frozenset({"cp_shadowing"})


async def test_caseload_on_a_date(storage: Storage, org: str) -> None:
    day = dt.date(2025, 2, 1)
    async with storage.write() as s:
        await s.people.upsert(
            org, "W", display_name="W", roles=[], team_ref=None, manager_ref=None, occurred_at=T0
        )
        w = await s.people.get(org, "W")
        assert w is not None
        for ref in ("C-1", "C-2", "C-3"):
            await s.cases.upsert(org, ref, work_type="child_in_need", children=1, occurred_at=T0)
            case = await s.cases.get(org, ref)
            assert case is not None
            await s.allocations.start(
                case_id=case.id,
                person_id=w.id,
                role=Role.LEAD,
                on=day,
                source=Source.IMPORT,
                overrides=frozenset({"cap"}) if ref == "C-1" else frozenset(),
                occurred_at=T0,
            )
        c2 = await s.cases.get(org, "C-2")
        assert c2 is not None
        await s.allocations.end(c2.id, w.id, day + dt.timedelta(10), T0 + HOUR)
        await s.cases.close(org, "C-3", day + dt.timedelta(20), T0 + HOUR)
        assert await s.allocations.caseload(w.id, day - dt.timedelta(1)) == ()
        assert [c.case_id for c in await s.allocations.caseload(w.id, day + dt.timedelta(9))] == [
            "C-1",
            "C-2",
            "C-3",
        ]
        later = await s.allocations.caseload(w.id, day + dt.timedelta(10))
        assert [(c.case_id, c.overrides) for c in later] == [
            ("C-1", frozenset({"cap"})),
            ("C-3", frozenset()),
        ]
        assert [c.case_id for c in await s.allocations.caseload(w.id, day + dt.timedelta(20))] == [
            "C-1"
        ]


async def test_second_open_allocation_of_the_same_pair_is_refused(
    storage: Storage, org: str
) -> None:
    async with storage.write() as s:
        await s.people.upsert(
            org, "W", display_name="W", roles=[], team_ref=None, manager_ref=None, occurred_at=T0
        )
        await s.cases.upsert(org, "C-1", work_type="child_in_need", children=1, occurred_at=T0)
        w, case = await s.people.get(org, "W"), await s.cases.get(org, "C-1")
        assert w is not None and case is not None
        fields = {
            "case_id": case.id,
            "person_id": w.id,
            "role": Role.LEAD,
            "on": dt.date(2025, 1, 1),
            "source": Source.WEBHOOK,
            "overrides": frozenset[str](),
            "occurred_at": T0,
        }
        await s.allocations.start(**fields)  # type: ignore[arg-type]
        with pytest.raises(IntegrityError):
            await s.allocations.start(**fields)  # type: ignore[arg-type]


async def test_webhook_receipts_make_redelivery_a_no_op_per_organisation(
    storage: Storage, org: str
) -> None:
    async with storage.write() as s:
        await s.orgs.create("other", "Other", parse_policy(TINY_POLICY, "t.yaml"), "t", TINY_POLICY)
        assert await s.receipts.record(org, "msg_1", "case.upserted", T0)
        assert not await s.receipts.record(org, "msg_1", "case.upserted", T0)
        assert await s.receipts.record(org, "msg_2", "case.upserted", T0)
        # Delivery ids are the sender's: another council's case system may use the same one.
        assert await s.receipts.record("other", "msg_1", "case.upserted", T0)


async def test_a_groups_receipts_recorded_at_once_say_which_are_new(
    storage: Storage, org: str
) -> None:
    """One statement on PostgreSQL must answer as `record` one by one would, an id sent
    twice in one group included."""
    async with storage.write() as s:
        await s.orgs.create("other", "Other", parse_policy(TINY_POLICY, "t.yaml"), "t", TINY_POLICY)
        assert await s.receipts.record(org, "msg_0", "case.upserted", T0)
    group = [
        Receipt(org, "msg_0", "case.upserted", T0),
        Receipt(org, "msg_1", "case.upserted", T0),
        Receipt("other", "msg_1", "case.upserted", T0),
        Receipt(org, "msg_1", "allocation.started", T0),
    ]
    async with storage.write() as s:
        assert await s.receipts.record_many(group) == [False, True, True, False]
    async with storage.write() as s:
        assert await s.receipts.record_many(group) == [False, False, False, False]


async def test_a_forgotten_receipt_is_new_again(storage: Storage, org: str) -> None:
    """A group that stops early forgets the deliveries it has not applied: their resend or
    the next group applies them rather than taking them for redeliveries."""
    async with storage.write() as s:
        assert await s.receipts.record_many(
            [Receipt(org, "msg_1", "case.upserted", T0), Receipt(org, "msg_2", "case.upserted", T0)]
        ) == [True, True]
        await s.receipts.forget(org, "msg_2")
    async with storage.write() as s:
        assert not await s.receipts.record(org, "msg_1", "case.upserted", T0)
        assert await s.receipts.record(org, "msg_2", "case.upserted", T0)


async def test_people_locked_together_are_the_people_lock_reads(storage: Storage, org: str) -> None:
    """What `lock` answers after `lock_many` is what it would have read, roles and ASYE
    record included, and a change to a person in the transaction is read afresh."""
    async with storage.write() as s:
        for ref, roles in (("NQ-1", [StaffRole.NQSW]), ("SW-1", [StaffRole.SOCIAL_WORKER])):
            await s.people.upsert(
                org,
                ref,
                display_name=ref,
                roles=roles,
                team_ref="T-1",
                manager_ref=None,
                occurred_at=T0,
            )
        await s.people.set_asye(
            await s.people.ensure(org, "NQ-1"),
            start=dt.date(2025, 1, 6),
            fte=1.0,
            assessor_ref=None,
            occurred_at=T0,
        )
    async with storage.read() as s:
        alone = {ref: await s.people.lock(org, ref) for ref in ("NQ-1", "SW-1", "NOBODY")}
        workers = {ref: await s.people.asye_worker(p.id) for ref, p in alone.items() if p}
    async with storage.write() as s:
        await s.people.lock_many(org, ["SW-1", "NQ-1", "NOBODY", "NQ-1"])
        together = {ref: await s.people.lock(org, ref) for ref in ("NQ-1", "SW-1", "NOBODY")}
        assert together == alone
        assert {ref: await s.people.asye_worker(p.id) for ref, p in together.items() if p} == (
            workers
        )
        await s.people.upsert(
            org,
            "SW-1",
            display_name="SW-1",
            roles=[StaffRole.TEAM_MANAGER],
            team_ref="T-1",
            manager_ref=None,
            occurred_at=T0 + HOUR,
        )
        again = await s.people.lock(org, "SW-1")
        assert again is not None and again.roles == {StaffRole.TEAM_MANAGER}


async def test_tokens_are_kept_only_as_hashes(storage: Storage, org: str) -> None:
    token, record = await admin.create_token(storage, org, "case system", "cli", T0)
    async with storage.read() as s:
        stored = await s.session.scalar(select(ApiToken))
        assert stored is not None and token not in (stored.token_sha256, stored.label)
        assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    found = await admin.authenticate(storage, token, T0)
    assert found is not None and (found.org_id, found.id) == (org, record.id)
    assert await admin.authenticate(storage, token + "x", T0) is None
    assert record.created_at.tzinfo is not None
    await admin.revoke_token(storage, org, record.id, "cli", T0 + HOUR)
    assert await admin.authenticate(storage, token, T0 + HOUR) is None


async def test_organisation_ids_are_unique_and_keep_their_policy(
    storage: Storage, org: str
) -> None:
    async with storage.write() as s:
        with pytest.raises(OrganisationExists):
            await s.orgs.create(org, "Again", parse_policy(TINY_POLICY, "t.yaml"), "t", TINY_POLICY)
    async with storage.read() as s:
        acme = await s.orgs.get(org)
    assert acme is not None
    assert (acme.policy_id, acme.policy_version, acme.policy_yaml) == ("tiny", "1", TINY_POLICY)
