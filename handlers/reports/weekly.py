"""The weekly report, posted through the outbox on the organisation's day from 09:00
Europe/London: each team's report to its managers' channel, the whole organisation's
privately to each principal social worker, with the equality view where the organisation
records cohorts, and the audit chain's head (one line kept outside the database, to prove
later that no row was altered).

Once per organisation and week between every replica: the report is computed first, then
the run is claimed and its messages queued in one transaction, so a replica that dies
while computing leaves the week's report to the next tick, and of two replicas computing
it at once only the first to commit posts it."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from handlers.admin import checkpoint_line
from handlers.alerts import routing
from handlers.chat.replies import Reply, Section
from handlers.chat.report import equality_sections, report_reply
from handlers.errors import UnknownOrganisation
from handlers.ports import NewMessage, Transactions
from handlers.reports.caseload_report import caseload_report, london_today
from handlers.reports.figures import Period
from policy import LONDON, OPENS, StaffRole

log = logging.getLogger("caseload_bot.weekly_report")

JOB = "weekly-report"
TOPIC = "weekly_report"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


async def post_due(tx: Transactions, now: dt.datetime) -> int:
    """Queue this week's reports of every organisation whose day it is, once; returns how
    many messages were queued."""
    local = now.astimezone(LONDON)
    if local.time() < OPENS:
        return 0
    today = local.date()
    async with tx.read() as uow:
        org_ids = await uow.orgs.ids()
        due = [o for o in org_ids if await uow.reports.weekday(o) == today.weekday()]
    queued = 0
    for org_id in due:
        run = f"{org_id}:{today.isoformat()}"
        async with tx.read() as uow:
            if await uow.runs.claimed(JOB, run):
                continue
        messages = await _messages(tx, org_id, now)

        async def post(
            org_id: str = org_id, run: str = run, messages: list[NewMessage] = messages
        ) -> int:
            async with tx.write() as uow:
                if not await uow.runs.claim(JOB, run, now):
                    return 0
                return await uow.outbox.add(org_id, messages, now)

        added = await tx.retry(post)
        log.info("weekly report of %s: %d messages queued", org_id, added)
        queued += added
    return queued


async def _messages(tx: Transactions, org_id: str, now: dt.datetime) -> list[NewMessage]:
    """The seven days before today: a Monday's report covers the week just ended."""
    today = london_today(now)
    period = Period(today - dt.timedelta(days=7), today - dt.timedelta(days=1))
    async with tx.read() as uow:
        channels = {
            t.ref: await routing.team_channels(uow, t) for t in await uow.teams.of_org(org_id)
        }
        head = await uow.audit.head(org_id)
        principals = await uow.people.with_role(org_id, StaffRole.PRINCIPAL_SOCIAL_WORKER)
        privately = await routing.privately(uow, principals)
    key = f"{JOB}:{today.isoformat()}"
    messages: list[NewMessage] = []
    for team_ref, places in channels.items():
        if not places:
            continue
        report = await caseload_report(tx, org_id, team_ref, period, now)
        if report.total.nqsws:  # a team with nobody on the ASYE is not told so every week
            messages += routing.addressed(
                places, f"{key}:{team_ref}", TOPIC, report_reply(report), now
            )
    # The organisation's report goes to the principal social workers alone: it carries the
    # equality view where the organisation records cohorts, and no team's report does.
    org_report = await caseload_report(tx, org_id, None, period, now, equality=True)
    whole = report_reply(org_report)
    if org_report.equality is not None:
        whole = _with(whole, equality_sections(org_report.equality))
    if head is not None:
        whole = _with(whole, (_checkpoint(checkpoint_line(head)),))
    messages += routing.addressed(privately, f"{key}:org", TOPIC, whole, now)
    return messages


async def set_report_day(
    tx: Transactions, org_id: str, weekday: int | None, at: dt.datetime
) -> bool:
    """`weekday` 0 (Monday) to 6, or None to switch the weekly report off; True if changed."""
    async with tx.write() as uow:
        if await uow.orgs.get(org_id) is None:
            raise UnknownOrganisation(org=org_id)
        return await uow.reports.set_weekday(org_id, weekday, at)


def _checkpoint(line: str) -> Section:
    return Section(
        (
            "Keep this line somewhere the bot's database is not: `caseload-bot audit verify"
            " --checkpoint FILE` proves later that no audit row up to it was altered or removed.",
            f"`{line}`",
        ),
        title="Audit checkpoint",
    )


def _with(reply: Reply, sections: tuple[Section, ...]) -> Reply:
    """The reply with these sections added at its end, and all else (its charts) kept."""
    return replace(reply, blocks=(*reply.blocks, *sections))
