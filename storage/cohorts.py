"""The equality view's switch and cohort values: the storage side of
`handlers.ports.CohortsPort`."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import EqualityView, Person, PersonCohort

_cohorts, _people = PersonCohort.__table__.c, Person.__table__.c


class Cohorts:
    """Satisfies `handlers.ports.CohortsPort`."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def attributes(self, org_id: str) -> tuple[str, ...] | None:
        row = await self._s.get(EqualityView, org_id)
        return None if row is None else tuple(sorted(row.attributes))

    async def set_attributes(
        self, org_id: str, attributes: tuple[str, ...] | None, at: dt.datetime
    ) -> int:
        row = await self._s.get(EqualityView, org_id)
        if attributes is None:
            if row is not None:
                await self._s.delete(row)
        elif row is None:
            self._s.add(EqualityView(org_id=org_id, attributes=sorted(attributes), updated_at=at))
        else:
            row.attributes, row.updated_at = sorted(attributes), at
        people = select(_people.id).where(_people.org_id == org_id)
        gone = and_(
            _cohorts.person_id.in_(people),
            *(() if attributes is None else (_cohorts.attribute.not_in(attributes),)),
        )
        erased = await self._s.scalar(select(func.count()).where(gone, _cohorts.value.is_not(None)))
        await self._s.execute(delete(PersonCohort).where(gone))
        await self._s.flush()
        return erased or 0

    async def set_values(
        self, person_id: int, values: Mapping[str, str | None], occurred_at: dt.datetime
    ) -> bool:
        changed = False
        for attribute, value in values.items():
            row = await self._s.get(PersonCohort, (person_id, attribute))
            if row is None:
                row = PersonCohort(
                    person_id=person_id, attribute=attribute, value=value, occurred_at=occurred_at
                )
                self._s.add(row)
                changed |= value is not None
            elif occurred_at >= row.occurred_at:
                changed |= row.value != value
                row.value, row.occurred_at = value, occurred_at
        await self._s.flush()
        return changed

    async def of_org(self, org_id: str) -> dict[str, dict[str, str]]:
        rows = await self._s.execute(
            select(_people.ref, _cohorts.attribute, _cohorts.value)
            .join_from(PersonCohort.__table__, Person.__table__, _people.id == _cohorts.person_id)
            .where(_people.org_id == org_id, _cohorts.value.is_not(None))
        )
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for ref, attribute, value in rows:
            out[ref][attribute] = value
        return dict(out)
