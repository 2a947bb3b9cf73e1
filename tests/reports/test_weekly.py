"""The weekly report: posted once, on the organisation's day from 09:00 London, to each
team's linked channel and privately to the principal social worker with the audit
checkpoint and, where the organisation records cohorts, the equality view (in no team's
report); another day, or switched off, nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from handlers.admin import CHECKPOINT
from handlers.alerts.body import decode
from handlers.audit import AuditRecord
from handlers.chat.replies import Chart
from handlers.errors import Unreachable
from handlers.ports import NewMessage, Transactions, UnitOfWork
from handlers.reports import weekly
from tests.chat.harness import plain
from tests.chat.world import DORSET, STOKE, USERS

MONDAY_9 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
"""Monday 30 November 2026, 09:00 in London (GMT)."""
CHANNEL = "C-TEAM-1"


async def _link_team_1(tx: Transactions) -> None:
    async with tx.write() as uow:
        team = await uow.teams.get(STOKE, "T-1")
        assert team is not None
        await uow.channels.link_team(team.id, "slack", CHANNEL)


async def _body(tx: Transactions, key: str, org: str = STOKE) -> str | None:
    async with tx.read() as uow:
        found = await uow.outbox.get(org, key)
    return None if found is None else plain(decode(found.body))


async def _chart(tx: Transactions, key: str) -> Chart | None:
    async with tx.read() as uow:
        found = await uow.outbox.get(STOKE, key)
    assert found is not None
    return decode(found.body).chart


async def test_monday_morning_posts_each_report_once(council: Transactions) -> None:
    await _link_team_1(council)
    assert await weekly.post_due(council, MONDAY_9 - dt.timedelta(minutes=1)) == 0
    # Stoke's channel and its principal social worker on Slack and on Teams; Dorset's
    # principal social worker on both.
    assert await weekly.post_due(council, MONDAY_9) == 5
    assert await weekly.post_due(council, MONDAY_9 + dt.timedelta(hours=1)) == 0
    team = await _body(council, f"weekly-report:2026-11-30:T-1:slack:{CHANNEL}")
    assert team is not None
    assert team.startswith(
        "Caseload report, Stoke, Assessment Team 1, Sun 29 Nov 2026: 2 of 3 NQSWs within policy"
    )
    assert "Bea Newman" not in team and "Audit checkpoint" not in team
    assert "By ethnicity" not in team and "Equality" not in team and "White British" not in team
    # The week just ended, Monday 23rd to Sunday 29th: NQ-4's two breaches opened on the 23rd.
    assert "This week: 2 breaches opened, 0 resolved" in team
    team_chart = await _chart(council, f"weekly-report:2026-11-30:T-1:slack:{CHANNEL}")
    assert team_chart is not None and [b.label for b in team_chart.bars] == [
        "NQ-11",
        "NQ-4",
        "NQ-7",
    ]
    org_chart = await _chart(council, f"weekly-report:2026-11-30:org:slack:{USERS['PSW-1']}")
    assert org_chart is not None and org_chart.of == 4
    org = await _body(council, f"weekly-report:2026-11-30:org:slack:{USERS['PSW-1']}")
    assert org is not None
    assert org.startswith("Caseload report, Stoke, Sun 29 Nov 2026: 3 of 4 NQSWs within policy")
    # The equality view goes to the principal social worker, every group here too small to show.
    assert "By ethnicity\nWhite British: fewer than 5 NQSWs" in org
    assert "By route\nStep Up: fewer than 5 NQSWs" in org
    dorset = await _body(council, f"weekly-report:2026-11-30:org:slack:{USERS['DP-1']}", DORSET)
    assert dorset is not None and "By " not in dorset  # Dorset records no cohorts
    line = org.splitlines()[-1].strip("`")
    async with council.read() as uow:
        head = await uow.audit.head(STOKE)
    assert CHECKPOINT.validate_json(line) == head
    assert json.loads(line)["org"] == STOKE


async def test_another_day_or_switched_off(council: Transactions) -> None:
    await _link_team_1(council)
    assert await weekly.post_due(council, MONDAY_9 + dt.timedelta(days=1)) == 0
    async with council.write() as uow:
        assert await uow.reports.set_weekday(STOKE, 1, MONDAY_9)
        assert not await uow.reports.set_weekday(STOKE, 1, MONDAY_9)
    assert await weekly.post_due(council, MONDAY_9) == 2  # Dorset's, still on Mondays
    assert await weekly.post_due(council, MONDAY_9 + dt.timedelta(days=1)) == 3
    async with council.write() as uow:
        assert await uow.reports.set_weekday(STOKE, None, MONDAY_9)
        assert await uow.reports.weekday(STOKE) is None
    assert await weekly.post_due(council, MONDAY_9 + dt.timedelta(days=8)) == 0  # a Tuesday


class _Failing:
    """The council's database, failing the first time the week's messages are queued: as
    a replica that dies between computing the report and posting it."""

    def __init__(self, tx: Transactions) -> None:
        self._tx = tx
        self.failed = False

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[UnitOfWork]:
        async with self._tx.write(urgent) as uow:
            if not self.failed:

                async def fail(org_id: str, messages: Sequence[NewMessage], at: dt.datetime) -> int:
                    self.failed = True
                    raise Unreachable(detail="connection reset")

                uow.outbox.add = fail  # type: ignore[method-assign]
            yield uow

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self._tx.read()

    async def audit(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> int:
        return await self._tx.audit(org_id, record, actor, at)

    async def retry[T](self, work: Callable[[], Awaitable[T]]) -> T:
        return await self._tx.retry(work)

    async def ping(self) -> None:
        await self._tx.ping()


async def test_a_report_that_could_not_be_queued_is_posted_at_the_next_tick(
    council: Transactions,
) -> None:
    """Nothing of the week's run is kept unless its messages are: the claim is taken in the
    same transaction that queues them."""
    await _link_team_1(council)
    failing = _Failing(council)
    with pytest.raises(Unreachable):
        await weekly.post_due(failing, MONDAY_9)
    assert failing.failed
    assert await weekly.post_due(failing, MONDAY_9 + dt.timedelta(minutes=5)) == 5
    assert await weekly.post_due(failing, MONDAY_9 + dt.timedelta(minutes=10)) == 0
