"""CSV builders shared by the import tests: real files, as a council's extract would be; and
real transactions that stop part way, as an interrupted import does."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import signal
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager

from bot.csv_import import ALLOCATION_COLUMNS, STAFF_COLUMNS, CsvFile
from handlers.ports import UnitOfWork
from tests.fakes import BusyAfter

TEAM = {"team_ref": "T-A", "team_name": "Assessment A", "team_kind": "assessment"}

STAFF = [
    {"ref": "TM-1", "name": "Tess Manager", "roles": "team_manager", **TEAM},
    {
        "ref": "NQ-1",
        "name": "Nia Quinn",
        "roles": "nqsw",
        **TEAM,
        "manager_ref": "TM-1",
        "asye_start": "2025-01-01",
        "fte": "0.8",
        "assessor_ref": "TM-1",
        "slack_team_id": "T0123",
        "slack_user_id": "U0456",
    },
    {"ref": "SW-1", "name": "Sam Worker", "roles": "social_worker; advanced_practitioner", **TEAM},
]

ALLOCATIONS = [
    {
        "case_ref": "C-1",
        "work_type": "child_in_need",
        "children": "2",
        "worker_ref": "NQ-1",
        "role": "lead",
        "from": "2025-01-02",
    },
    {
        "case_ref": "C-2",
        "work_type": "child_in_need",
        "children": "2",
        "worker_ref": "NQ-1",
        "role": "lead",
    },
    {
        "case_ref": "C-2",
        "work_type": "child_in_need",
        "children": "2",
        "worker_ref": "SW-1",
        "role": "co_work",
    },
]


def csv_bytes(columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def staff_file(rows: Iterable[Mapping[str, str]] = STAFF, name: str = "staff.csv") -> CsvFile:
    return CsvFile(name, csv_bytes(STAFF_COLUMNS, rows))


def allocations_file(
    rows: Iterable[Mapping[str, str]] = ALLOCATIONS, name: str = "allocations.csv"
) -> CsvFile:
    return CsvFile(name, csv_bytes(ALLOCATION_COLUMNS, rows))


@dataclasses.dataclass
class CancelledAfter(BusyAfter):
    """The real transactions, until `writes` have committed: the next is cancelled in the
    middle (as Ctrl-C cancels `asyncio.run`'s task), at its first wait for the database."""

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[UnitOfWork]:
        async with self.inner.write(urgent) as uow:
            if self.writes <= 0:
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
            yield uow
        self.writes -= 1


@dataclasses.dataclass
class InterruptedAfter(BusyAfter):
    """The real transactions, until `writes` have committed: the next one gets Ctrl-C (a
    real SIGINT to this process) in its middle."""

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[UnitOfWork]:
        async with self.inner.write(urgent) as uow:
            if self.writes <= 0:
                signal.raise_signal(signal.SIGINT)
            yield uow
        self.writes -= 1
