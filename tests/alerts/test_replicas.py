"""Three replicas on one PostgreSQL deliver every breach alert through a Slack that fails
30% of sends, one replica killed with SIGKILL mid-delivery: the alerts benchmark's fault
scenario (bench/alerts_bench.py) at small scale, so that its guarantees are checked on
every run and not only when someone benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import alerts_bench

pytestmark = pytest.mark.skipif(
    PG_URL is None, reason="replicas share a PostgreSQL: set TEST_DATABASE_URL"
)


async def test_every_alert_arrives_once_or_twice_when_a_replica_dies() -> None:
    assert PG_URL is not None
    run = await alerts_bench.fault_run(
        "slack", step_ups=30, teams=10, replicas=3, lease_s=5.0, pg_url=PG_URL, timeout=60.0
    )
    assert run.breaches == 60 and run.kills == 1
    assert (run.arrived, run.missing) == (run.expected, 0), "at least once"
    assert run.duplicates <= run.in_flight_at_kill, "at most one copy per message in flight"
    assert run.pending == 0 and run.outbox["failed"] == 0, run.outbox
    assert run.by_sender["replica 0"] > 0, "the killed replica was delivering when it died"
