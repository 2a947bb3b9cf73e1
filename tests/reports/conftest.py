"""The chat world (`tests.chat.world`), with a week of history: NQ-7 given child protection
as lead on Monday 16 November 2026 at 10:00 UTC and relieved of it on Wednesday 18th at
22:00 UTC (a breach of 2.5 days), and a supervision of NQ-7 on Friday 20th. The world's
own seeding, an hour before `NOW`, opens NQ-4's two breaches (C-CP-9 held as lead).

Built through the case-event use case, on the fakes and on every database."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from handlers.case_events import apply_event
from handlers.events import parse_event
from handlers.ports import Transactions
from storage.repositories import Storage
from tests.chat.harness import seed
from tests.chat.world import STOKE
from tests.conftest import BACKENDS, database
from tests.fakes import FakeTransactions


def _at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, 0, tzinfo=dt.UTC)


HISTORY: list[tuple[dt.datetime, str, dict[str, Any]]] = [
    (
        _at(16, 10),
        "allocation.started",
        {"case_ref": "C-CP-1", "worker_ref": "NQ-7", "role": "lead", "from": "2026-11-16"},
    ),
    (
        _at(18, 22),
        "allocation.ended",
        {"case_ref": "C-CP-1", "worker_ref": "NQ-7", "to": "2026-11-18"},
    ),
    (_at(20, 15), "worker.supervision_recorded", {"worker_ref": "NQ-7", "on": "2026-11-20"}),
]


async def with_history(tx: Transactions) -> None:
    await seed(tx)
    for n, (at, type_, data) in enumerate(HISTORY):
        body = {"type": type_, "occurred_at": at.isoformat(), "org": STOKE, "data": data}
        await apply_event(tx, f"history-{n}", parse_event(json.dumps(body)), at=at)


@pytest.fixture(params=["fake", *BACKENDS])
async def council(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Transactions]:
    if request.param == "fake":
        tx: Transactions = FakeTransactions()
        await with_history(tx)
        yield tx
        return
    async with database(request.param, tmp_path) as db:
        tx = Storage(db)
        await with_history(tx)
        yield tx
