"""The CSV format of the import, for councils without webhooks: two files become
case-management events, and every problem is reported as `FILE:LINE: FIELD: message`.

`staff.csv` gives teams and workers, `allocations.csv` gives cases and who holds them. Every
row of both files is validated first (against the event contract and the organisation's
policy); the events are then handed to `handlers.imports.apply_batch`, which applies them
exactly as if the case system had sent them: teams, then workers, then cases, then
allocations. Running the same files again changes nothing (the batch is keyed by both
files' content), while a new extract is applied in full.

The product keeps no names of children, addresses, dates of birth or case notes: a column
that is not listed below makes the whole file invalid, and nothing is read from its rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from handlers.case_events import vocabulary_errors
from handlers.events import (
    AllocationStarted,
    AllocationStartedEvent,
    CaseEvent,
    CaseUpserted,
    CaseUpsertedEvent,
    Channels,
    TeamUpserted,
    TeamUpsertedEvent,
    WorkerUpserted,
    WorkerUpsertedEvent,
)
from handlers.imports import ImportContext, Progress, apply_batch, import_context
from handlers.ports import Transactions
from policy.errors import NO_PERSONAL_DATA, InputError, input_errors

STAFF_COLUMNS = (
    "ref",
    "name",
    "roles",
    "team_ref",
    "team_name",
    "team_kind",
    "manager_ref",
    "asye_start",
    "fte",
    "assessor_ref",
    "slack_team_id",
    "slack_user_id",
    "teams_tenant_id",
    "teams_aad_object_id",
)
STAFF_REQUIRED = frozenset({"ref", "name", "roles", "team_ref", "team_name", "team_kind"})

ALLOCATION_COLUMNS = (
    "case_ref",
    "work_type",
    "children",
    "flags",
    "external",
    "worker_ref",
    "role",
    "from",
)
ALLOCATION_REQUIRED = frozenset({"case_ref", "work_type", "children", "worker_ref", "role"})

LIST_SEPARATOR = ";"
"""Separates the values of `roles` and `flags` inside one cell."""

_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowError:
    """One thing wrong with one row (line 1 is the header)."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class CsvFile:
    """A file as read from disk: its name (for messages) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    event: CaseEvent
    file: str
    line: int
    """The first row the event comes from."""


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What validation found: the events to apply, in order, and every bad row."""

    rows_read: int
    bad_rows: int
    errors: tuple[RowError, ...]
    events: tuple[PlannedEvent, ...]
    file_invalid: bool
    """A header is wrong or a file unreadable: nothing is imported, even with skip."""
    batch: str = ""
    """A digest of both files' content: the same files make the same batch."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows_read: int
    bad_rows: int
    errors: tuple[RowError, ...]
    imported: bool
    """False when validation refused the files: nothing was written."""
    file_invalid: bool = False
    """A header is wrong or a file unreadable (never skipped)."""
    events: int = 0
    """Events planned (and, unless `failure`, all applied)."""
    applied: int = 0
    """Events that changed something."""
    unchanged: int = 0
    """Events applied that changed nothing (already so, or older than the stored state)."""
    already_imported: int = 0
    """Events of an earlier run of the same files: acknowledged, nothing changed."""
    breaches_opened: int = 0
    breaches_resolved: int = 0
    failure: RowError | None = None
    """The event that could not be applied; the events before it stay applied."""


# --- reading CSV -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


def read_rows(
    file: CsvFile, columns: Sequence[str], required: Collection[str]
) -> tuple[list[_Row], list[RowError], bool]:
    """The file's rows as stripped strings by column; errors; whether the file is invalid.

    Blank lines are skipped. The header must name every required column, no column twice,
    and nothing else.
    """
    name = file.name
    try:
        text = file.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = file.data[: exc.start].count(b"\n") + 1
        return [], [RowError(name, line, "file", "is not UTF-8 text")], True
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[_Row] = []
    errors: list[RowError] = []
    header: list[str] | None = None
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [cell.strip() for cell in record]
                errors += _header_errors(name, line, header, columns, required)
                if errors:
                    return [], errors, True
                continue
            if len(record) != len(header):
                errors.append(
                    RowError(
                        name,
                        line,
                        "row",
                        f"has {len(record)} fields; the header has {len(header)}",
                    )
                )
                continue
            rows.append(_Row(line, {c: v.strip() for c, v in zip(header, record, strict=True)}))
    except csv.Error as exc:
        return rows, [*errors, RowError(name, start, "file", f"is not valid CSV ({exc})")], True
    if header is None:
        missing = ", ".join(c for c in columns if c in required)
        return [], [RowError(name, 1, "header", f"is missing; expected {missing}, …")], True
    return rows, errors, False


def _header_errors(
    name: str, line: int, header: list[str], columns: Sequence[str], required: Collection[str]
) -> list[RowError]:
    errors: list[RowError] = []
    seen: set[str] = set()
    for column in header:
        if column in seen:
            errors.append(RowError(name, line, column or "header", "appears twice in the header"))
        seen.add(column)
        if column not in columns:
            errors.append(
                RowError(
                    name,
                    line,
                    column or "header",
                    f"is not a column of this file ({NO_PERSONAL_DATA}); "
                    f"allowed: {', '.join(columns)}",
                )
            )
    for column in columns:
        if column in required and column not in seen:
            errors.append(RowError(name, line, column, "is a required column; it is missing"))
    return errors


# --- validating rows into events ---------------------------------------------------------


def _model[M: BaseModel](
    model: type[M],
    data: dict[str, Any],
    columns: Callable[[list[str]], str],
    file: str,
    line: int,
    errors: list[RowError],
) -> M | None:
    """The row's values as an event's model, or None with each problem named by column
    (`columns` maps a field's path inside the model to the column it came from)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in input_errors(exc, root="row"):
            path = [p for p in re.sub(r"\[\d+\]", "", error.field).split(".") if p]
            errors.append(RowError(file, line, columns(path), error.message))
        return None


def _keep(errors: list[RowError], mine: list[RowError]) -> None:
    """A row's errors, the first for each column (one mistake is often seen twice)."""
    seen: set[str] = set()
    for error in mine:
        if error.field not in seen:
            seen.add(error.field)
            errors.append(error)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]


def _bool(value: str, column: str, file: str, line: int, errors: list[RowError]) -> bool | None:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE or lowered == "":
        return False
    errors.append(RowError(file, line, column, f"{value!r} is not true or false"))
    return None


def _int(value: str, column: str, file: str, line: int, errors: list[RowError]) -> int | None:
    if value.isascii() and value.isdigit():
        return int(value)
    message = "is required" if value == "" else f"{value!r} is not a whole number"
    errors.append(RowError(file, line, column, message))
    return None


def _staff_column(path: list[str]) -> str:
    return {
        "asye.start": "asye_start",
        "asye.fte": "fte",
        "asye.assessor_ref": "assessor_ref",
    }.get(".".join(path), path[-1] if path else "row")


def _team_column(path: list[str]) -> str:
    first = path[0] if path else ""
    return {"ref": "team_ref", "name": "team_name", "kind": "team_kind"}.get(first, "row")


def _case_column(path: list[str]) -> str:
    first = path[0] if path else "row"
    return {"ref": "case_ref"}.get(first, first)


def _allocation_column(path: list[str]) -> str:
    return path[0] if path else "row"


def _present(row: _Row, columns: Iterable[str]) -> dict[str, str]:
    return {c: row.get(c) for c in columns if row.get(c)}


def _pairs(row: _Row, file: str, errors: list[RowError]) -> bool:
    """Chat ids come in pairs, and FTE and assessor belong to an ASYE; False if not."""
    before = len(errors)
    for a, b in (("slack_team_id", "slack_user_id"), ("teams_tenant_id", "teams_aad_object_id")):
        if bool(row.get(a)) != bool(row.get(b)):
            missing, given = (b, a) if row.get(a) else (a, b)
            errors.append(RowError(file, row.line, missing, f"is required when {given} is given"))
    if not row.get("asye_start"):
        for column in ("fte", "assessor_ref"):
            if row.get(column):
                errors.append(
                    RowError(file, row.line, column, "is given without asye_start (the ASYE)")
                )
    return len(errors) == before


@dataclass(slots=True)
class _Staff:
    teams: dict[str, tuple[int, TeamUpserted]] = field(default_factory=dict)
    workers: dict[str, tuple[int, WorkerUpserted]] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    """Worker refs whose row is bad, with its line."""
    rows: int = 0
    bad_rows: int = 0


def _validate_staff(
    rows: list[_Row], file: str, stored: ImportContext, errors: list[RowError]
) -> _Staff:
    out = _Staff(rows=len(rows))
    first_line: dict[str, int] = {}
    for row in rows:
        mine: list[RowError] = []
        paired = _pairs(row, file, mine)
        team = _model(
            TeamUpserted,
            {
                "ref": row.get("team_ref"),
                "name": row.get("team_name"),
                "kind": row.get("team_kind"),
                "channels": stored.teams.get(row.get("team_ref"), Channels()),
            },
            _team_column,
            file,
            row.line,
            mine,
        )
        data: dict[str, Any] = {
            "ref": row.get("ref"),
            "name": row.get("name"),
            "roles": _split(row.get("roles")),
            "team_ref": row.get("team_ref"),
        }
        if row.get("manager_ref"):
            data["manager_ref"] = row.get("manager_ref")
        if row.get("asye_start"):
            data["asye"] = {
                "start": row.get("asye_start"),
                **_present(row, ("fte", "assessor_ref")),
            }
            if "fte" in data["asye"]:
                fte = _fte(row.get("fte"), file, row.line, mine)
                if fte is None:
                    del data["asye"]["fte"]
                else:
                    data["asye"]["fte"] = fte
        chat = _present(
            row, ("slack_team_id", "slack_user_id", "teams_tenant_id", "teams_aad_object_id")
        )
        if chat and paired:
            data["chat"] = chat
        worker = _model(WorkerUpserted, data, _staff_column, file, row.line, mine)
        ref = row.get("ref")
        if ref in first_line:
            mine.append(
                RowError(
                    file, row.line, "ref", f"worker {ref!r} is already on line {first_line[ref]}"
                )
            )
        if team is not None and team.ref in out.teams:
            line, earlier = out.teams[team.ref]
            for column, a, b in (
                ("team_name", team.name, earlier.name),
                ("team_kind", team.kind, earlier.kind),
            ):
                if a != b:
                    mine.append(
                        RowError(
                            file,
                            row.line,
                            column,
                            f"team {team.ref!r} is {b!r} on line {line}; rows of a team must agree",
                        )
                    )
        first_line.setdefault(ref, row.line)
        if mine or worker is None or team is None:
            _keep(errors, mine)
            out.bad_rows += 1
            out.bad.setdefault(ref, row.line)
            continue
        out.teams.setdefault(team.ref, (row.line, team))
        out.workers[worker.ref] = (row.line, worker)
    return out


def _fte(value: str, file: str, line: int, errors: list[RowError]) -> float | None:
    try:
        return float(value)
    except ValueError:
        errors.append(RowError(file, line, "fte", f"{value!r} is not a number (e.g. 0.8)"))
        return None


def _check_people(staff: _Staff, file: str, stored: ImportContext, errors: list[RowError]) -> None:
    """Managers and assessors must be staff too: a typo would otherwise create a stranger.

    Repeated until nothing changes: a worker whose manager's row is bad is not imported
    either, and so on down the line.
    """
    found = True
    while found:
        found = False
        for ref, (line, worker) in list(staff.workers.items()):
            mine: list[RowError] = []
            for column, other in (
                ("manager_ref", worker.manager_ref),
                ("assessor_ref", worker.asye.assessor_ref if worker.asye else None),
            ):
                if other is not None:
                    problem = _unknown_worker(other, staff, stored, file)
                    if problem:
                        mine.append(RowError(file, line, column, problem))
            if mine:
                _keep(errors, mine)
                del staff.workers[ref]
                staff.bad[ref] = line
                staff.bad_rows += 1
                found = True


def _unknown_worker(ref: str, staff: _Staff, stored: ImportContext, staff_file: str) -> str | None:
    if ref in staff.workers:
        return None
    if ref in staff.bad:
        return f"worker {ref!r} is not imported: their row in {staff_file} (line {staff.bad[ref]}) is bad"
    if ref in stored.workers:
        return None
    return f"no worker {ref!r} in {staff_file} or already in the organisation"


@dataclass(slots=True)
class _Allocations:
    cases: dict[str, tuple[int, CaseUpserted]] = field(default_factory=dict)
    allocations: list[tuple[int, AllocationStarted]] = field(default_factory=list)
    rows: int = 0
    bad_rows: int = 0


def _validate_allocations(
    rows: list[_Row],
    file: str,
    staff: _Staff,
    staff_file: str,
    stored: ImportContext,
    errors: list[RowError],
) -> _Allocations:
    out = _Allocations(rows=len(rows))
    pairs: dict[tuple[str, str], int] = {}
    for row in rows:
        mine: list[RowError] = []
        children = _int(row.get("children"), "children", file, row.line, mine)
        external = _bool(row.get("external"), "external", file, row.line, mine)
        case_data: dict[str, Any] = {
            "ref": row.get("case_ref"),
            "work_type": row.get("work_type"),
            "children": 0 if children is None else children,
            "flags": _split(row.get("flags")),
            "external": bool(external),
        }
        case = _model(CaseUpserted, case_data, _case_column, file, row.line, mine)
        if case is not None:
            for error in vocabulary_errors(stored.policy, case):
                column = error.field.removeprefix("data.")
                mine.append(RowError(file, row.line, column, error.message))
        allocation = _model(
            AllocationStarted,
            {
                "case_ref": row.get("case_ref"),
                "worker_ref": row.get("worker_ref"),
                "role": row.get("role"),
                **_present(row, ("from",)),
            },
            _allocation_column,
            file,
            row.line,
            mine,
        )
        worker_ref = row.get("worker_ref")
        if worker_ref and not any(e.field == "worker_ref" for e in mine):
            problem = _unknown_worker(worker_ref, staff, stored, staff_file)
            if problem:
                mine.append(RowError(file, row.line, "worker_ref", problem))
        if allocation is not None:
            key = (allocation.case_ref, allocation.worker_ref)
            if key in pairs:
                mine.append(
                    RowError(
                        file,
                        row.line,
                        "worker_ref",
                        f"{key[1]!r} already holds case {key[0]!r} on line {pairs[key]}",
                    )
                )
            pairs.setdefault(key, row.line)
        if case is not None and case.ref in out.cases:
            line, earlier = out.cases[case.ref]
            for column, a, b in (
                ("work_type", case.work_type, earlier.work_type),
                ("children", case.children, earlier.children),
                ("flags", sorted(case.flags), sorted(earlier.flags)),
                ("external", case.external, earlier.external),
            ):
                if a != b:
                    shown = LIST_SEPARATOR.join(b) if isinstance(b, list) else b
                    mine.append(
                        RowError(
                            file,
                            row.line,
                            column,
                            f"case {case.ref!r} has {column} {shown!r} on line {line}; "
                            "rows of a case must agree",
                        )
                    )
        if mine or case is None or allocation is None:
            _keep(errors, mine)
            out.bad_rows += 1
            continue
        out.cases.setdefault(case.ref, (row.line, case))
        out.allocations.append((row.line, allocation))
    return out


@dataclass(frozen=True, slots=True)
class ParsedFiles:
    """Both files read as CSV, before any row is validated."""

    staff: CsvFile
    allocations: CsvFile
    staff_rows: tuple[_Row, ...]
    allocation_rows: tuple[_Row, ...]
    errors: tuple[RowError, ...]
    invalid: bool

    def references(self) -> tuple[set[str], set[str]]:
        """The worker refs the files use without listing them in the staff file, and the
        files' team refs: what the organisation may already hold."""
        listed = _referenced(self.staff_rows, ("ref",))
        used = _referenced(self.staff_rows, ("manager_ref", "assessor_ref"))
        workers = (used | _referenced(self.allocation_rows, ("worker_ref",))) - listed
        return workers, _referenced(self.staff_rows, ("team_ref",))


def parse_files(staff: CsvFile, allocations: CsvFile) -> ParsedFiles:
    staff_rows, staff_errors, staff_invalid = read_rows(staff, STAFF_COLUMNS, STAFF_REQUIRED)
    alloc_rows, alloc_errors, alloc_invalid = read_rows(
        allocations, ALLOCATION_COLUMNS, ALLOCATION_REQUIRED
    )
    return ParsedFiles(
        staff,
        allocations,
        tuple(staff_rows),
        tuple(alloc_rows),
        (*staff_errors, *alloc_errors),
        staff_invalid or alloc_invalid,
    )


def _referenced(rows: Iterable[_Row], columns: Iterable[str]) -> set[str]:
    cols = tuple(columns)
    return {row.get(c) for row in rows for c in cols if row.get(c)}


def plan_import(
    org_id: str, files: ParsedFiles, context: ImportContext, occurred_at: dt.datetime
) -> ImportPlan:
    """Validate every row of both files and turn the good ones into ordered events."""
    staff, allocations = files.staff, files.allocations
    errors = list(files.errors)
    malformed = len(files.errors)
    read = len(files.staff_rows) + len(files.allocation_rows) + malformed
    if files.invalid:
        return ImportPlan(read, malformed, tuple(errors), (), file_invalid=True)

    staff_found = _validate_staff(list(files.staff_rows), staff.name, context, errors)
    _check_people(staff_found, staff.name, context, errors)
    alloc_found = _validate_allocations(
        list(files.allocation_rows), allocations.name, staff_found, staff.name, context, errors
    )
    digest = hashlib.sha256()
    for file in (staff, allocations):
        digest.update(hashlib.sha256(file.data).digest())

    at, org = occurred_at, org_id
    events: list[PlannedEvent] = []
    for line, team in staff_found.teams.values():
        event: CaseEvent = TeamUpsertedEvent(
            type="team.upserted", occurred_at=at, org=org, data=team
        )
        events.append(PlannedEvent(event, staff.name, line))
    for line, worker in staff_found.workers.values():
        event = WorkerUpsertedEvent(type="worker.upserted", occurred_at=at, org=org, data=worker)
        events.append(PlannedEvent(event, staff.name, line))
    for line, case in alloc_found.cases.values():
        event = CaseUpsertedEvent(type="case.upserted", occurred_at=at, org=org, data=case)
        events.append(PlannedEvent(event, allocations.name, line))
    for line, allocation in alloc_found.allocations:
        event = AllocationStartedEvent(
            type="allocation.started", occurred_at=at, org=org, data=allocation
        )
        events.append(PlannedEvent(event, allocations.name, line))
    order = {c: i for i, c in enumerate((*STAFF_COLUMNS, *ALLOCATION_COLUMNS))}
    errors.sort(key=lambda e: (e.file != staff.name, e.line, order.get(e.field, -1)))
    return ImportPlan(
        rows_read=read,
        bad_rows=malformed + staff_found.bad_rows + alloc_found.bad_rows,
        errors=tuple(errors),
        events=tuple(events),
        file_invalid=False,
        batch=digest.hexdigest(),
    )


# --- the import --------------------------------------------------------------------------


async def import_files(
    tx: Transactions,
    org_id: str,
    staff: CsvFile,
    allocations: CsvFile,
    *,
    skip_bad_rows: bool = False,
    at: dt.datetime | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate both files, then apply their events in groups (`apply_batch`, which tells
    `progress` how far it has got).

    Nothing is written when any row is bad, unless `skip_bad_rows` (then the good rows are
    imported and the bad ones still reported); a bad header is never skipped. Raises
    `UnknownOrganisation`, and `StorageError` when the database stays busy (the events
    applied before it stay, and running the import again skips them); an event that cannot
    be applied stops the import and is reported as `failure`.
    """
    at = at or dt.datetime.now(dt.UTC)
    files = parse_files(staff, allocations)
    workers, teams = (set(), set()) if files.invalid else files.references()
    context = await import_context(tx, org_id, workers, teams)
    plan = plan_import(org_id, files, context, at)
    if plan.file_invalid or (plan.bad_rows > 0 and not skip_bad_rows):
        return ImportReport(
            plan.rows_read, plan.bad_rows, plan.errors, False, file_invalid=plan.file_invalid
        )
    result = await apply_batch(tx, org_id, plan.batch, [p.event for p in plan.events], at, progress)
    failure = None
    if result.failed_at is not None and result.failure is not None:
        planned = plan.events[result.failed_at]
        failure = RowError(planned.file, planned.line, *_failure_cell(result.failure))
    return ImportReport(
        rows_read=plan.rows_read,
        bad_rows=plan.bad_rows,
        errors=plan.errors,
        imported=True,
        events=len(plan.events),
        applied=result.applied,
        unchanged=result.unchanged,
        already_imported=result.already_imported,
        breaches_opened=result.breaches_opened,
        breaches_resolved=result.breaches_resolved,
        failure=failure,
    )


def _failure_cell(failure: Exception) -> tuple[str, str]:
    if isinstance(failure, InputError):
        return failure.field.removeprefix("data."), failure.message
    return "row", str(failure)
