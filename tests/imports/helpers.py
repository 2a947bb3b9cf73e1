"""CSV builders shared by the import tests: real files, as a council's extract would be."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

from bot.csv_import import ALLOCATION_COLUMNS, STAFF_COLUMNS, CsvFile

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
