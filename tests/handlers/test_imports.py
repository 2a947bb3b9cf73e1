"""`apply_batch`: a batch's events are applied in order, committed in groups; the counts
say what happened, a failure stops the batch at its index (those before it stay applied),
and the same batch again is recognised as already imported."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from handlers.errors import NotYetKnown, UnknownOrganisation
from handlers.events import CaseEvent, Channels
from handlers.imports import BatchResult, apply_batch, import_context
from policy import InputError
from tests.fakes import FakeTransactions
from tests.handlers.world import STOKE, T0, changes, create_stoke, event, snapshot

STAFF = [
    event("team.upserted", {"ref": "T-1", "name": "Assessment East", "kind": "assessment"}),
    event(
        "worker.upserted",
        {
            "ref": "NQ-1",
            "name": "Sam",
            "roles": ["nqsw"],
            "team_ref": "T-1",
            "asye": {"start": "2025-01-06"},
        },
    ),
]
CIN = event("case.upserted", {"ref": "C-1", "work_type": "child_in_need", "children": 2})
CP = event("case.upserted", {"ref": "CP-1", "work_type": "child_protection", "children": 1})
HOLD_CIN = event("allocation.started", {"case_ref": "C-1", "worker_ref": "NQ-1", "role": "lead"})
HOLD_CP = event("allocation.started", {"case_ref": "CP-1", "worker_ref": "NQ-1", "role": "lead"})
BAD_WORK_TYPE = event("case.upserted", {"ref": "C-2", "work_type": "cin", "children": 1})
OTHER_ORG = event(
    "case.upserted", {"ref": "C-1", "work_type": "child_in_need", "children": 2}, org="nowhere"
)


@dataclass(frozen=True)
class Batch:
    events: list[CaseEvent]
    earlier: list[CaseEvent] | None = None
    """A batch applied before this one: another extract, unless `again`."""
    again: bool = False
    """`earlier` was this very batch (the same files, so the same content digest)."""


ROWS = [
    pytest.param(
        Batch([*STAFF, CIN, HOLD_CIN]),
        BatchResult(applied=4),
        {"C-1"},
        id="a new batch is applied in full",
    ),
    pytest.param(
        Batch([*STAFF, CIN, HOLD_CIN], earlier=[*STAFF, CIN, HOLD_CIN], again=True),
        BatchResult(already_imported=4),
        {"C-1"},
        id="the same batch again is already imported and changes nothing",
    ),
    pytest.param(
        Batch([*STAFF, CIN, HOLD_CIN], earlier=[*STAFF, CIN]),
        BatchResult(applied=1, unchanged=3),
        {"C-1"},
        id="a new extract: what is already so is counted unchanged",
    ),
    pytest.param(
        Batch([*STAFF, CP, HOLD_CP]),
        BatchResult(applied=4, breaches_opened=2),
        {"CP-1"},
        id="breaches opened by the batch are counted",
    ),
    pytest.param(
        Batch(
            [event("allocation.ended", {"case_ref": "CP-1", "worker_ref": "NQ-1"})],
            earlier=[*STAFF, CP, HOLD_CP],
        ),
        BatchResult(applied=1, breaches_resolved=2),
        {"CP-1"},
        id="breaches resolved by the batch are counted",
    ),
    pytest.param(
        Batch([*STAFF, HOLD_CIN, CIN]),
        BatchResult(applied=2, failed_at=2, failure=NotYetKnown(what="", ref="", needs="")),
        set(),
        id="stops at the first event that fails; those before it stay applied",
    ),
    pytest.param(
        Batch([CIN, BAD_WORK_TYPE, CP]),
        BatchResult(applied=1, failed_at=1, failure=InputError("data.work_type", "")),
        {"C-1"},
        id="an event the policy refuses stops the batch at its index",
    ),
    pytest.param(
        Batch([OTHER_ORG]),
        BatchResult(failed_at=0, failure=UnknownOrganisation(org="nowhere")),
        set(),
        id="an organisation that does not exist fails the first event",
    ),
]


@pytest.mark.parametrize(("batch", "expected", "cases"), ROWS)
async def test_apply_batch(
    tx: FakeTransactions, batch: Batch, expected: BatchResult, cases: set[str]
) -> None:
    await create_stoke(tx)
    if batch.earlier is not None:
        await apply_batch(tx, STOKE, "files-1" if batch.again else "files-0", batch.earlier, T0)
    before = snapshot(tx)
    result = await apply_batch(tx, STOKE, "files-1", batch.events, T0)
    assert type(result.failure) is type(expected.failure)
    assert result == replace(expected, failure=result.failure)
    if isinstance(expected.failure, InputError):
        assert isinstance(result.failure, InputError)
        assert result.failure.field == expected.failure.field
    assert {ref for _, ref in tx.state.cases} == cases
    if result.applied == 0:
        assert changes(before, tx.state) == set()


async def test_a_failed_batch_run_again_after_the_fix_applies_the_rest(
    tx: FakeTransactions,
) -> None:
    await create_stoke(tx)
    first = await apply_batch(tx, STOKE, "files-1", [*STAFF, HOLD_CIN, CIN], T0)
    assert first.failed_at == 2
    fixed = await apply_batch(tx, STOKE, "files-2", [*STAFF, CIN, HOLD_CIN], T0)
    assert fixed == BatchResult(applied=2, unchanged=2)


async def test_import_context_names_known_workers_and_keeps_team_channels(
    tx: FakeTransactions,
) -> None:
    await create_stoke(tx)
    team = {"ref": "T-1", "name": "East", "kind": "assessment", "channels": {"slack": "C01"}}
    await apply_batch(tx, STOKE, "f", [event("team.upserted", team), STAFF[1]], T0)
    context = await import_context(tx, STOKE, ["NQ-1", "NQ-2"], ["T-1", "T-2"])
    assert context.workers == frozenset({"NQ-1"})
    assert context.teams == {"T-1": Channels(slack="C01")}
    assert "child_in_need" in context.policy.work_types
    with pytest.raises(UnknownOrganisation):
        await import_context(tx, "nowhere", [], [])
