"""The whole picture a caseload report draws, read in a handful of statements.

The repositories read one person at a time, as a command needs; a report of thousands of
NQSWs reads each table once, scoped by organisation (and team), and groups the rows here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

from sqlalchemy import Select, String, and_, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.ports import (
    DEFAULT_WEEKDAY,
    BreachEvent,
    BreachEventKind,
    NqswFacts,
    PersonRecord,
    ReportPicture,
)
from policy import Caseload, StaffRole, Worker
from policy.requests import parse_pause
from storage.models import (
    Allocation,
    AsyeAgreement,
    AsyePause,
    AsyeRecord,
    AsyeReview,
    AuditEntry,
    CaseRow,
    Person,
    PersonRole,
    ReportSchedule,
    Supervision,
    Team,
)
from storage.records import held_case, stored_keys, team_record

_people, _roles = Person.__table__.c, PersonRole.__table__.c
_record = AsyeRecord.__table__.c
_pauses, _reviews = AsyePause.__table__.c, AsyeReview.__table__.c
_agreements, _supervisions = AsyeAgreement.__table__.c, Supervision.__table__.c
_cases, _allocs, _audit = CaseRow.__table__.c, Allocation.__table__.c, AuditEntry.__table__.c

_BREACH_KINDS: dict[str, BreachEventKind] = {
    "breach_opened": "opened",
    "breach_acknowledged": "acknowledged",
    "breach_resolved": "resolved",
}


class Reports:
    """Satisfies `handlers.ports.ReportsPort`."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def picture(
        self, org_id: str, team_id: int | None, on: dt.date, until: dt.datetime
    ) -> ReportPicture:
        scope = _people.org_id == org_id
        if team_id is not None:
            scope = and_(scope, _people.team_id == team_id)
        in_scope = (
            select(_people.id)
            .join_from(Person.__table__, AsyeRecord.__table__, _record.person_id == _people.id)
            .where(scope)
        )

        people = await self._all(
            select(
                _people.id,
                _people.org_id,
                _people.ref,
                _people.display_name,
                _people.team_id,
                _people.manager_id,
                _record.start_date,
                _record.fte,
            )
            .join_from(Person.__table__, AsyeRecord.__table__, _record.person_id == _people.id)
            .where(scope)
            .order_by(_people.ref)
        )
        roles = await self._grouped(
            select(_roles.person_id, _roles.role).where(_roles.person_id.in_(in_scope))
        )
        pauses = await self._grouped(
            select(_pauses.person_id, _pauses.from_date, _pauses.to_date)
            .where(_pauses.person_id.in_(in_scope))
            .order_by(_pauses.person_id, _pauses.from_date)
        )
        passed = await self._grouped(
            select(_reviews.person_id, _reviews.month).where(
                _reviews.person_id.in_(in_scope), _reviews.passed.is_(True)
            )
        )
        agreed = await self._grouped(
            select(_agreements.person_id, _agreements.agreement).where(
                _agreements.person_id.in_(in_scope)
            )
        )
        held = await self._grouped(
            select(
                _allocs.person_id,
                _cases.ref,
                _cases.work_type,
                _cases.children,
                type_coerce(_cases.flags, String).label("flags"),
                _cases.external,
                _allocs.role,
                type_coerce(_allocs.overrides, String).label("overrides"),
            )
            .join_from(Allocation.__table__, CaseRow.__table__, _cases.id == _allocs.case_id)
            .where(
                _allocs.person_id.in_(in_scope),
                _allocs.from_date <= on,
                _allocs.to_date.is_(None) | (_allocs.to_date > on),
                _cases.closed_on.is_(None) | (_cases.closed_on > on),
            )
            .order_by(_allocs.person_id, _cases.ref)
        )
        supervised = {
            r.person_id: r.last
            for r in await self._all(
                select(_supervisions.person_id, func.max(_supervisions.on).label("last"))
                .where(_supervisions.person_id.in_(in_scope), _supervisions.on <= on)
                .group_by(_supervisions.person_id)
            )
        }
        nqsws = tuple(
            NqswFacts(
                person=PersonRecord(
                    id=p.id,
                    org_id=p.org_id,
                    ref=p.ref,
                    display_name=p.display_name,
                    roles=frozenset(StaffRole(r.role) for r in roles.get(p.id, ())),
                    team_id=p.team_id,
                    manager_id=p.manager_id,
                ),
                worker=Worker(
                    asye_start=p.start_date,
                    fte=p.fte,
                    pauses=tuple(
                        parse_pause({"from": r.from_date, "to": r.to_date})
                        for r in pauses.get(p.id, ())
                    ),
                    reviews_passed=frozenset(r.month for r in passed.get(p.id, ())),
                    agreements=frozenset(r.agreement for r in agreed.get(p.id, ())),
                ),
                caseload=Caseload(
                    held_case(r, stored_keys(r.flags), stored_keys(r.overrides))
                    for r in held.get(p.id, ())
                ),
                last_supervision=supervised.get(p.id),
            )
            for p in people
        )
        teams = await self._s.scalars(
            select(Team)
            .where(Team.org_id == org_id, *(() if team_id is None else (Team.id == team_id,)))
            .order_by(Team.ref)
        )
        refs = {n.person.ref for n in nqsws}
        return ReportPicture(
            teams=tuple(team_record(t) for t in teams),
            nqsws=nqsws,
            breach_events=await self._breach_events(org_id, until, refs),
        )

    async def weekday(self, org_id: str) -> int | None:
        row = await self._s.get(ReportSchedule, org_id)
        return DEFAULT_WEEKDAY if row is None else row.weekday

    async def set_weekday(self, org_id: str, weekday: int | None, at: dt.datetime) -> bool:
        row = await self._s.get(ReportSchedule, org_id)
        if row is None:
            if weekday == DEFAULT_WEEKDAY:
                return False
            self._s.add(ReportSchedule(org_id=org_id, weekday=weekday, updated_at=at))
        elif row.weekday == weekday:
            return False
        else:
            row.weekday, row.updated_at = weekday, at
        await self._s.flush()
        return True

    async def _breach_events(
        self, org_id: str, until: dt.datetime, refs: set[str]
    ) -> tuple[BreachEvent, ...]:
        rows = await self._all(
            select(_audit.at, _audit.kind, _audit.data)
            .where(
                _audit.org_id == org_id, _audit.kind.in_(list(_BREACH_KINDS)), _audit.at <= until
            )
            .order_by(_audit.seq)
        )
        events: list[BreachEvent] = []
        for row in rows:
            data = json.loads(row.data)
            if data["worker"] in refs:
                events.append(
                    BreachEvent(
                        at=row.at,
                        kind=_BREACH_KINDS[row.kind],
                        worker=data["worker"],
                        rule=data["rule"],
                        clause=data.get("clause"),
                        cases=tuple(data["cases"]),
                    )
                )
        return tuple(events)

    async def _all(self, query: Select[Any]) -> list[Any]:
        return list((await self._s.execute(query)).all())

    async def _grouped(self, query: Select[Any]) -> dict[int, list[Any]]:
        """Rows by their first column, the person's id, in the query's order."""
        out: dict[int, list[Any]] = defaultdict(list)
        for row in await self._all(query):
            out[row[0]].append(row)
        return out
