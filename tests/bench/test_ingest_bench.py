"""bench/ingest_bench.py: issue 12's targets and ratios in its figures, the raw commit loops
that the ratios divide by, and one tiny SQLite run end to end (its events all valid for the
preset). No figure's size is asserted: speed is measured in bench/, never in tests."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import ingest_bench
from figures import Figure
from ingest_bench import Result

from tests.conftest import PG_URL

ROOT = Path(__file__).parents[2]


def by_metric(figures: list[Figure]) -> dict[str, Figure]:
    return {f.metric: f for f in figures}


def test_eight_in_flight_unless_told_otherwise() -> None:
    assert ingest_bench.parse_args([]).concurrency == 8
    assert ingest_bench.parse_args(["--concurrency", "2"]).concurrency == 2


@pytest.mark.parametrize(
    "argv",
    [["--big-holds", "0"], ["--worker-events", "0"], ["--commit-seconds", "0"]],
)
def test_sizes_that_measure_nothing_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        ingest_bench.parse_args(argv)


def test_figures_carry_issue_12s_targets_and_the_ratios() -> None:
    args = ingest_bench.parse_args(["--batch", "100"])
    result = Result(
        "sqlite",
        single=[0.01] * 20,
        bulk_events=1_000,
        bulk_allocations=400,
        bulk_seconds=2.0,
        alloc_seconds=1.0,
        decisions=[0.03] * 20,
        batch_events=1_000,
        batch_seconds=0.5,
        worker_events=300,
        small_seconds=1.0,
        big_seconds=1.5,
        raw=[(10_000, 2.0), (4_000, 2.0)],
    )
    f = by_metric(ingest_bench.figures([result], args))

    assert (f["sqlite: bulk events"].target, f["sqlite: bulk events"].must) == (1_000, 500)
    single = f["sqlite: single event p99"]
    assert (single.target, single.must, single.better) == (20, None, "lower")
    decision = f["sqlite: decision during bulk, p99"]
    assert (decision.target, decision.must, decision.better) == (50, 150, "lower")

    assert f["sqlite: raw single-row commits"].value == 5_000, "the faster window's"
    assert f["sqlite: bulk events/s ÷ raw commits/s"].value == pytest.approx(500 / 5_000)
    assert f["sqlite: batched events/s ÷ raw commits/s"].value == pytest.approx(2_000 / 5_000)

    assert f["sqlite: NQSW holding 15, allocations"].value == 300
    assert f["sqlite: NQSW holding 1,500, allocations"].value == 200
    big = f["sqlite: big worker's events/s ÷ small worker's"]
    assert big.value == pytest.approx(2 / 3)
    assert (big.target, big.better) == (0.8, "higher")


def test_without_batches_no_batch_figures() -> None:
    args = ingest_bench.parse_args([])
    result = Result("sqlite", bulk_events=10, bulk_seconds=1.0, raw=[(5, 1.0), (5, 1.0)])
    metrics = by_metric(ingest_bench.figures([result], args))
    assert not [m for m in metrics if "batch" in m]


def test_sqlite_commits_are_single_rows_on_a_wal_file(tmp_path: Path) -> None:
    path = tmp_path / "commits.sqlite3"
    before, _ = ingest_bench.sqlite_commits(path, 0.05)
    after, seconds = ingest_bench.sqlite_commits(path, 0.05)
    assert before > 0 and after > 0 and seconds > 0
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT count(*) FROM commit_probe").fetchone() == (before + after,)


@pytest.mark.skipif(PG_URL is None, reason="set TEST_DATABASE_URL")
async def test_pg_commits_are_single_rows_in_the_schema_given() -> None:
    assert PG_URL is not None
    dsn = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        commits, _ = await ingest_bench.pg_commits(PG_URL, schema, 0.05)
        assert commits > 0
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".commit_probe') == commits
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


def test_a_tiny_sqlite_run_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    sizes = "--allocations 20 --workers 5 --single 15 --batch 10"
    sizes += " --small-holds 3 --big-holds 30 --worker-events 10 --commit-seconds 0.1"
    command = [sys.executable, "bench/ingest_bench.py", "--sqlite-only", *sizes.split()]
    done = subprocess.run(
        [*command, "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    figures = {f["metric"]: f for f in json.loads(out.read_text())["figures"]}
    for metric in (
        "sqlite: raw single-row commits",
        "sqlite: bulk events/s ÷ raw commits/s",
        "sqlite: batched events/s ÷ raw commits/s",
        "sqlite: NQSW holding 3, allocations",
        "sqlite: NQSW holding 30, allocations",
        "sqlite: big worker's events/s ÷ small worker's",
    ):
        assert figures[metric]["value"] is not None, metric
    assert figures["sqlite: events refused after retries"]["value"] == 0, done.stdout
    assert "(e) 10 allocation.started to one NQSW on the ASYE holding 3" in done.stdout
