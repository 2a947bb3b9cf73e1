"""`tx`: a test through the ports, run on the in-memory fakes and on every database, so
that the fakes the handler tests use are held to what storage does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.ports import Transactions
from policy import parse_policy
from storage.repositories import Storage
from tests.conftest import BACKENDS, TINY_POLICY, database
from tests.fakes import FakeTransactions


@pytest.fixture(params=["fake", *BACKENDS])
async def tx(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Transactions]:
    if request.param == "fake":
        yield FakeTransactions()
        return
    async with database(request.param, tmp_path) as db:
        yield Storage(db)


@pytest.fixture
async def acme(tx: Transactions) -> str:
    """Organisation `acme` on the tiny policy, through the ports."""
    async with tx.write() as uow:
        policy = parse_policy(TINY_POLICY, "tiny.yaml")
        await uow.orgs.create("acme", "Acme Council", policy, "tiny.yaml", TINY_POLICY)
    return "acme"
