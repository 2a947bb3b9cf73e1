"""Two replicas on one PostgreSQL change the same case at once: the newer change wins
whichever commits first (SQLite serialises writers, so there it cannot race)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import text

from storage.db import Database, connect
from storage.repositories import Storage
from tests.conftest import PG_URL, T0

pytestmark = pytest.mark.skipif(PG_URL is None, reason="replicas share a PostgreSQL")


async def test_an_older_change_read_before_a_newer_commit_does_not_overwrite_it(
    db: Database, org: str
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers")
    assert PG_URL is not None
    async with db.engine.connect() as conn:
        schema = (await conn.execute(text("SHOW search_path"))).scalar_one()
    other = connect(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    here, there = Storage(db), Storage(other)
    try:
        async with here.write() as s:
            await s.cases.upsert(org, "C-1", work_type="child_in_need", children=1, occurred_at=T0)
        stepped_up, older = T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=1)
        async with there.write() as s:
            # The step-up to child protection holds the row, not yet committed...
            assert await s.cases.upsert(
                org, "C-1", work_type="child_protection", children=1, occurred_at=stepped_up
            )

            async def late() -> bool:
                async with here.write() as s:
                    return await s.cases.upsert(
                        org, "C-1", work_type="child_in_need", children=2, occurred_at=older
                    )

            # ...while an older event reads the case as it was and waits for the row.
            stale = asyncio.create_task(late())
            await asyncio.sleep(0.3)
            assert not stale.done()
        assert await stale is False
        async with here.read() as s:
            case = await s.cases.get(org, "C-1")
        assert case is not None and (case.work_type, case.children) == ("child_protection", 1)
    finally:
        await other.dispose()
