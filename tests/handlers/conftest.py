"""Every handler test gets a fresh in-memory store; when it ends, every audit row the use
cases wrote must carry exactly the fields of its kind (the chain is permanent)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from handlers.audit import field_names
from handlers.ports import AuditKind
from tests.fakes import FakeTransactions


@pytest.fixture
def tx() -> Iterator[FakeTransactions]:
    fake = FakeTransactions()
    yield fake
    for org, chain in fake.state.audit.items():
        for row in chain:
            fields = sorted(json.loads(row.data))
            assert fields == sorted(field_names(AuditKind(row.kind))), f"{org} row {row.seq}"
