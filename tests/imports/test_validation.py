"""Validation of the CSV rows, before anything is written: every bad row, by line and field."""

from __future__ import annotations

import json

import pytest

from bot.csv_import import CsvFile, ImportPlan, parse_files, plan_import
from handlers.events import WorkerUpsertedEvent, parse_event
from handlers.imports import ImportContext, delivery_id
from policy import compile_policy, parse_policy
from tests.conftest import T0, TINY_POLICY
from tests.imports.helpers import ALLOCATIONS, STAFF, TEAM, allocations_file, staff_file

POLICY = compile_policy(parse_policy(TINY_POLICY, "tiny.yaml"))


def plan(
    staff: CsvFile | None = None,
    allocations: CsvFile | None = None,
    stored: ImportContext | None = None,
) -> ImportPlan:
    files = parse_files(staff or staff_file(), allocations or allocations_file())
    return plan_import("acme", files, stored or ImportContext(POLICY), T0)


def ids(result: ImportPlan) -> list[str]:
    """The delivery ids the batch's events are applied under."""
    return [delivery_id("acme", result.batch, p.event) for p in result.events]


def errors(result: ImportPlan) -> list[str]:
    return [str(e) for e in result.errors]


def test_good_files_become_ordered_events_with_deterministic_ids() -> None:
    result = plan()
    assert result.errors == () and result.bad_rows == 0 and result.rows_read == 6
    assert [p.event.type for p in result.events] == [
        "team.upserted",
        *["worker.upserted"] * 3,
        *["case.upserted"] * 2,
        *["allocation.started"] * 3,
    ]
    assert [(p.file, p.line) for p in result.events][-3:] == [
        ("allocations.csv", 2),
        ("allocations.csv", 3),
        ("allocations.csv", 4),
    ]
    first = ids(result)
    assert len(set(first)) == len(first) and all(i.startswith("import:") for i in first)
    assert ids(plan()) == first
    changed = [{**ALLOCATIONS[0], "children": "3"}, *ALLOCATIONS[1:]]
    assert not set(ids(plan(allocations=allocations_file(changed)))) & set(first)


def test_events_are_the_webhook_contract() -> None:
    """A row yields exactly the event the case system would have sent as JSON."""
    worker = next(p.event for p in plan().events if p.event.type == "worker.upserted")
    body = {
        "type": "worker.upserted",
        "occurred_at": T0.isoformat(),
        "org": "acme",
        "data": {
            "ref": "TM-1",
            "name": "Tess Manager",
            "roles": ["team_manager"],
            "team_ref": "T-A",
        },
    }
    assert worker == parse_event(json.dumps(body))
    allocation = plan().events[-1].event
    body = {
        "type": "allocation.started",
        "occurred_at": T0.isoformat(),
        "org": "acme",
        "data": {"case_ref": "C-2", "worker_ref": "SW-1", "role": "co_work"},
    }
    assert allocation == parse_event(json.dumps(body))


def test_a_child_name_column_makes_the_file_invalid_and_its_rows_are_not_read() -> None:
    data = b"case_ref,work_type,children,child_name,worker_ref,role\nC-1,child_in_need,1,Jo Bloggs,NQ-1,lead\n"
    result = plan(allocations=CsvFile("allocations.csv", data))
    assert result.file_invalid and result.events == ()
    [message] = errors(result)
    assert message.startswith("allocations.csv:1: child_name: is not a column of this file")
    assert "keeps no names of children" in message
    assert "Bloggs" not in message


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "ref,name,roles,team_ref,team_name",
            "staff.csv:1: team_kind: is a required column; it is missing",
        ),
        (
            "ref,name,name,roles,team_ref,team_name,team_kind",
            "staff.csv:1: name: appears twice in the header",
        ),
        (
            "",
            "staff.csv:1: header: is missing; expected ref, name, roles, team_ref, team_name, team_kind, …",
        ),
        (
            "ref,name,roles,team_ref,team_name,team_kind,address",
            "staff.csv:1: address: is not a column of this file",
        ),
    ],
)
def test_header_errors(header: str, expected: str) -> None:
    result = plan(staff=CsvFile("staff.csv", header.encode() + b"\n"))
    assert result.file_invalid
    assert any(e.startswith(expected) for e in errors(result)), errors(result)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ref": ""}, "staff.csv:3: ref: String should have at least 1 character"),
        ({"ref": "NQ 1"}, "staff.csv:3: ref: String should match pattern"),
        ({"name": ""}, "staff.csv:3: name: String should have at least 1 character"),
        (
            {"roles": "nqsw;wizard"},
            "staff.csv:3: roles: 'wizard' is not allowed; 'nqsw', 'social_worker'",
        ),
        ({"roles": " ; "}, "staff.csv:3: roles: Tuple should have at least 1 item"),
        (
            {"asye_start": "06/01/2025"},
            "staff.csv:3: asye_start: '06/01/2025' is not a date; use YYYY-MM-DD",
        ),
        ({"fte": "0,8"}, "staff.csv:3: fte: '0,8' is not a number (e.g. 0.8)"),
        ({"fte": "1.5"}, "staff.csv:3: fte: Input should be less than or equal to 1"),
        ({"asye_start": ""}, "staff.csv:3: fte: is given without asye_start (the ASYE)"),
        (
            {"slack_user_id": ""},
            "staff.csv:3: slack_user_id: is required when slack_team_id is given",
        ),
        (
            {"teams_aad_object_id": "abc"},
            "staff.csv:3: teams_tenant_id: is required when teams_aad_object_id is given",
        ),
        ({"team_kind": "Assessment"}, "staff.csv:3: team_kind: String should match pattern"),
        (
            {"team_name": "Assessment B"},
            "staff.csv:3: team_name: team 'T-A' is 'Assessment A' on line 2; rows of a team must agree",
        ),
        ({"ref": "TM-1"}, "staff.csv:3: ref: worker 'TM-1' is already on line 2"),
        (
            {"manager_ref": "TM-9"},
            "staff.csv:3: manager_ref: no worker 'TM-9' in staff.csv or already in the organisation",
        ),
    ],
)
def test_bad_staff_rows(change: dict[str, str], expected: str) -> None:
    rows = [STAFF[0], {**STAFF[1], **change}, STAFF[2]]
    result = plan(staff=staff_file(rows))
    assert not result.file_invalid and result.bad_rows >= 1
    assert any(e.startswith(expected) for e in errors(result)), errors(result)
    assert all(p.line != 3 for p in result.events if p.file == "staff.csv")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"case_ref": ""}, "allocations.csv:2: case_ref: String should have at least 1 character"),
        (
            {"work_type": "child_in_needs"},
            "allocations.csv:2: work_type: 'child_in_needs' is not a work type of this policy; did you mean 'child_in_need'?",
        ),
        ({"children": "two"}, "allocations.csv:2: children: 'two' is not a whole number"),
        ({"children": "-1"}, "allocations.csv:2: children: '-1' is not a whole number"),
        ({"children": ""}, "allocations.csv:2: children: is required"),
        (
            {"children": "51"},
            "allocations.csv:2: children: Input should be less than or equal to 50",
        ),
        (
            {"flags": "interpreter"},
            "allocations.csv:2: flags: 'interpreter' is not a flag of this policy",
        ),
        ({"external": "maybe"}, "allocations.csv:2: external: 'maybe' is not true or false"),
        ({"role": "boss"}, "allocations.csv:2: role: 'boss' is not allowed; 'lead' or 'co_work'"),
        (
            {"from": "2025-02-30"},
            "allocations.csv:2: from: '2025-02-30' is not a date; use YYYY-MM-DD",
        ),
        (
            {"worker_ref": "NQ-9"},
            "allocations.csv:2: worker_ref: no worker 'NQ-9' in staff.csv or already in the organisation",
        ),
        (
            {"worker_ref": ""},
            "allocations.csv:2: worker_ref: String should have at least 1 character",
        ),
    ],
)
def test_bad_allocation_rows(change: dict[str, str], expected: str) -> None:
    rows = [{**ALLOCATIONS[0], **change}, *ALLOCATIONS[1:]]
    result = plan(allocations=allocations_file(rows))
    assert result.bad_rows == 1
    assert any(e.startswith(expected) for e in errors(result)), errors(result)
    assert all(p.line != 2 for p in result.events if p.file == "allocations.csv")


def test_rows_of_one_case_must_agree_and_a_pair_appears_once() -> None:
    rows = [
        *ALLOCATIONS,
        {**ALLOCATIONS[2], "children": "3"},
        {**ALLOCATIONS[1]},
    ]
    assert errors(plan(allocations=allocations_file(rows))) == [
        "allocations.csv:5: children: case 'C-2' has children 2 on line 3; rows of a case must agree",
        "allocations.csv:5: worker_ref: 'SW-1' already holds case 'C-2' on line 4",
        "allocations.csv:6: worker_ref: 'NQ-1' already holds case 'C-2' on line 3",
    ]


def test_rows_depending_on_a_bad_staff_row_are_bad_too() -> None:
    """The manager's row is bad: so are the rows that need the manager, and their cases."""
    staff = [{**STAFF[0], "roles": "boss"}, STAFF[1], STAFF[2]]
    result = plan(staff=staff_file(staff))
    assert errors(result)[:3] == [
        "staff.csv:2: roles: 'boss' is not allowed; 'nqsw', 'social_worker', 'advanced_practitioner', 'team_manager', 'asye_lead', 'assessor', 'principal_social_worker', 'service_manager', 'head_of_service' or 'admin'",
        "staff.csv:3: manager_ref: worker 'TM-1' is not imported: their row in staff.csv (line 2) is bad",
        "staff.csv:3: assessor_ref: worker 'TM-1' is not imported: their row in staff.csv (line 2) is bad",
    ]
    assert (
        "allocations.csv:2: worker_ref: worker 'NQ-1' is not imported: their row in staff.csv (line 3) is bad"
        in errors(result)
    )
    assert result.bad_rows == 4
    assert [p.event.type for p in result.events] == [
        "team.upserted",
        "worker.upserted",
        "case.upserted",
        "allocation.started",
    ]


def test_workers_already_stored_may_be_referred_to() -> None:
    stored = ImportContext(POLICY, workers=frozenset({"TM-1", "XX-1"}))
    staff = [STAFF[1], STAFF[2]]
    rows = [*ALLOCATIONS, {**ALLOCATIONS[0], "worker_ref": "XX-1"}]
    result = plan(staff=staff_file(staff), allocations=allocations_file(rows), stored=stored)
    assert result.errors == ()


def test_csv_shapes_line_numbers_and_encodings() -> None:
    header = "case_ref,work_type,children,worker_ref,role\r\n"
    text = (
        "\ufeff" + header + "\r\n"  # BOM, CRLF and a blank line (line 2)
        "C-1,child_in_need,1,NQ-1,lead\r\n"  # line 3
        '"C-2","child_in_need","1","NQ-1","lead",extra\r\n'  # line 4: too many fields
        '"C\n3",child_in_need,1,NQ-1,lead\r\n'  # lines 5-6: a quoted newline
        "C-4,child_in_need,1,NQ-1,co_work\r\n"  # line 7
        "C-5,child_in_need,1,NQ-1,nope\r\n"  # line 8
    )
    result = plan(allocations=CsvFile("a.csv", text.encode()))
    assert [(e.line, e.field) for e in result.errors] == [(4, "row"), (5, "case_ref"), (8, "role")]
    assert str(result.errors[0]) == "a.csv:4: row: has 6 fields; the header has 5"
    assert result.rows_read == 8 and result.bad_rows == 3

    latin = CsvFile("a.csv", header.encode() + "C-1,child_in_need,1,Zoë,lead\n".encode("latin-1"))
    assert errors(plan(allocations=latin)) == ["a.csv:2: file: is not UTF-8 text"]
    broken = CsvFile("a.csv", header.encode() + b'"C-1"x,child_in_need,1,NQ-1,lead\n')
    result = plan(allocations=broken)
    assert result.file_invalid and errors(result)[0].startswith("a.csv:2: file: is not valid CSV")


def test_optional_columns_may_be_left_out_of_the_header() -> None:
    header = "ref,name,roles,team_ref,team_name,team_kind\n"
    rows = "".join(
        f"{s['ref']},{s['name']},{s['roles']},{TEAM['team_ref']},{TEAM['team_name']},{TEAM['team_kind']}\n"
        for s in STAFF
    )
    result = plan(staff=CsvFile("staff.csv", (header + rows).encode()))
    assert result.errors == ()
    workers = [p.event for p in result.events if isinstance(p.event, WorkerUpsertedEvent)]
    assert [w.data.asye for w in workers] == [None, None, None]
