"""The report use case: one read transaction, then pure figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from handlers.errors import UnknownOrganisation, UnknownTeam
from handlers.policy_cache import compiled_policy
from handlers.ports import Transactions
from handlers.reports.equality import complex_work_types, equality_view
from handlers.reports.figures import Period, Report, build_report, opened_in
from policy import LONDON


def london_today(now: dt.datetime) -> dt.date:
    return now.astimezone(LONDON).date()


async def caseload_report(
    tx: Transactions,
    org_id: str,
    team_ref: str | None,
    period: Period,
    now: dt.datetime,
    *,
    equality: bool = False,
) -> Report:
    """Caseloads as they stand at the end of the period (today, if it ends later), and
    what happened to breaches within it.

    `equality`: with the measures split by cohort, when the organisation records cohorts
    (otherwise the report's `equality` stays None). Only the principal social worker's
    paths ask for it."""
    on = min(period.end, london_today(now))
    end_of_period = dt.datetime.combine(
        period.end + dt.timedelta(days=1), dt.time(), tzinfo=LONDON
    ).astimezone(dt.UTC)
    async with tx.read() as uow:
        org = await uow.orgs.get(org_id)
        if org is None:
            raise UnknownOrganisation(org=org_id)
        team = None
        if team_ref is not None:
            team = await uow.teams.get(org.id, team_ref)
            if team is None:
                raise UnknownTeam(ref=team_ref)
        picture = await uow.reports.picture(
            org.id, None if team is None else team.id, on, min(end_of_period, now)
        )
        attributes = await uow.cohorts.attributes(org.id) if equality else None
        cohorts = await uow.cohorts.of_org(org.id) if attributes is not None else {}
    compiled = compiled_policy(org)
    report = build_report(
        compiled,
        picture,
        org_id=org.id,
        org_name=org.name,
        team=team,
        on=on,
        period=period,
    )
    if attributes is None:
        return report
    view = equality_view(
        report.nqsws,
        cohorts,
        attributes,
        complex_work_types(compiled.policy),
        opened_in(picture.breach_events, period),
    )
    return replace(report, equality=view)
