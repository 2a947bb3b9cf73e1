"""bench/run_all.py: the RESULTS.md it writes from the benchmarks' JSON (a figure meeting its
target, its must only, neither; a benchmark that failed; PostgreSQL skipped), its handling
of a script that fails or overruns, and one real quick run. No figure's size is asserted:
speed is measured in bench/, never in tests."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import run_all
from run_all import Bench, Outcome

ROOT = Path(__file__).parents[2]


def figure(
    metric: str,
    value: float | None,
    unit: str = "ms",
    target: float | None = None,
    must: float | None = None,
    better: str = "higher",
) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": value,
        "unit": unit,
        "target": target,
        "must": must,
        "better": better,
    }


@pytest.mark.parametrize(
    ("value", "target", "must", "better", "mark"),
    [
        (60_000, 50_000, 20_000, "higher", "yes"),
        (30_000, 50_000, 20_000, "higher", "must only"),
        (10_000, 50_000, 20_000, "higher", "**no**"),
        (900, 2000, 5000, "lower", "yes"),
        (3000, 2000, 5000, "lower", "must only"),
        (6000, 2000, 5000, "lower", "**no**"),
        (120, 100, None, "lower", "no"),
        (100, 100, None, "lower", "yes"),
        (3, None, 3, "lower", "yes"),
        (0, None, 180, "higher", "**no**"),
        (None, 100, None, "lower", "**no figure**"),
        (12.5, None, None, "lower", ""),
    ],
)
def test_met_compares_with_the_target_and_the_must(
    value: float | None, target: float | None, must: float | None, better: str, mark: str
) -> None:
    assert run_all.met(figure("m", value, target=target, must=must, better=better)) == mark


FIXTURE = {
    "policy": {
        "name": "policy",
        "parameters": {"runs": 7},
        "figures": [
            figure("decide, stoke-childrens", 55_354.06, "decisions/s", 50_000, 20_000),
            figure("decide, dorset-childrens", 31_000.0, "decisions/s", 50_000, 20_000),
            figure("peak RSS, this process", 67.98, "MiB", better="lower"),
        ],
        "skipped": {},
    },
    "alerts": {
        "name": "alerts",
        "parameters": {"breaches": 600},
        "figures": [
            figure("latency: step-up to channel p99", 6100.4, "ms", 2000, 5000, "lower"),
            figure("latency: step-ups whose alert arrived", 200, "step-ups", must=200),
        ],
        "skipped": {"faults (PostgreSQL)": "no PostgreSQL"},
    },
}


def outcome(name: str, **kw: Any) -> Outcome:
    return Outcome(name, f"What {name} measures", f".venv/bin/python bench/{name}.py", **kw)


def test_the_results_page_from_fixture_json() -> None:
    outcomes = [
        outcome("policy", seconds=21.2, exit_code=0, document=FIXTURE["policy"], output="rates\n"),
        outcome(
            "ingest",
            seconds=12.4,
            exit_code=3,
            stderr_tail=["Traceback (most recent call last):", "RuntimeError: the server died"],
            skipped={"postgresql": "no PostgreSQL"},
        ),
        outcome("slack", seconds=300.0, exit_code=None),
        outcome("decision_latency", seconds=5.0, exit_code=0, problem="it wrote no figures"),
        outcome("alerts", seconds=80.0, exit_code=0, document=FIXTURE["alerts"]),
    ]
    about = [("CPU", "AMD EPYC"), ("PostgreSQL", "none answered at 127.0.0.1:5432")]
    when = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    page = run_all.render(outcomes, about, when, "abc1234", "bench/run_all.py")
    lines = page.splitlines()

    assert "Run 2026-03-02 09:30 UTC at commit abc1234 by `bench/run_all.py`" in page
    assert "took 6 min 59 s" in page
    assert "| CPU | AMD EPYC |" in lines
    assert "| policy | ok | 21 | 1 / 2 | 2 / 2 |" in lines
    assert "| ingest | failed: exit 3 | 12 | – | – |" in lines
    assert "| slack | failed: stopped at its time limit | 300 | – | – |" in lines
    assert "| decision_latency | failed: it wrote no figures | 5 | – | – |" in lines
    assert "| alerts | ok | 80 | 0 / 1 | 1 / 2 |" in lines

    assert "| decide, stoke-childrens | 55,354 | decisions/s | 50,000 | 20,000 | yes |" in lines
    assert (
        "| decide, dorset-childrens | 31,000 | decisions/s | 50,000 | 20,000 | must only |" in lines
    )
    assert "| peak RSS, this process | 68.0 | MiB | – | – |  |" in lines
    assert "| latency: step-up to channel p99 | 6,100 | ms | 2,000 | 5,000 | **no** |" in lines
    assert "| latency: step-ups whose alert arrived | 200 | step-ups | – | 200 | yes |" in lines
    assert "| faults (PostgreSQL) | skipped: no PostgreSQL |  |  |  |  |" in lines

    ingest = page[page.index("## ingest") : page.index("## slack")]
    assert "**failed: exit 3** after 12 s." in ingest
    assert "```\nTraceback (most recent call last):\nRuntimeError: the server died\n```" in ingest
    assert "| metric |" not in ingest, "a failed benchmark has no figures to show"
    assert (
        "<summary>its output</summary>" in page[page.index("## policy") : page.index("## ingest")]
    )


def test_a_failing_script_is_reported_with_its_exit_and_stderr(tmp_path: Path) -> None:
    broken = Bench(
        "broken", "policy_bench.py", "A script given an option it lacks", ("--nope",), (), 60
    )
    out = run_all.run_one(broken, False, None, tmp_path, run_all.Reporter())
    assert out.failed and out.exit_code == 2
    assert "unrecognized arguments: --nope" in out.stderr_tail[-1]


def test_a_script_past_its_time_limit_is_stopped_and_reported_failed(tmp_path: Path) -> None:
    slow = Bench("slow", "policy_bench.py", "Longer than its limit", (), (), 0.5)
    out = run_all.run_one(slow, False, None, tmp_path, run_all.Reporter())
    assert out.failed and out.exit_code is None
    assert run_all.status(out) == "failed: stopped at its time limit"


def test_a_quick_policy_run_writes_results_end_to_end(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    command = [sys.executable, "bench/run_all.py", "--quick", "--only", "policy"]
    done = subprocess.run(
        [*command, "--output", str(results)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    page = results.read_text()
    lines = page.splitlines()
    assert "by `bench/run_all.py --quick --only policy --output" in page
    assert any(line.startswith("| policy | ok |") for line in lines)
    for row in ("CPU", "cores", "memory", "OS", "Python", "SQLite", "PostgreSQL"):
        assert any(line.startswith(f"| {row} | ") for line in lines), row
    assert "## policy" in page and "## ingest" not in page
    assert any(line.startswith("| decide, stoke-childrens | ") for line in lines)
    assert "| µs |" in page
