"""Policy engine benchmark: decisions per second in-process and through the CLI, and memory.

(a) in-process: `policy.decide` on pre-built request models, a 20-case caseload each, over a
    pool of distinct requests (workers, start dates, leave, reviews, dates and proposals all
    vary) so that no cache sees the same question twice in a row; the median of several
    runs, on one CPU. Issue target: 50,000 decisions/s (20 µs each); must: 20,000.
    A second row adds what a server does around the engine: parse the JSON request and
    build the JSON decision.
(b) CLI: 10,000 JSON Lines requests piped through
    `caseload-bot policy decide --policy stoke-childrens`, wall time including start-up.
(c) memory: the peak traced by tracemalloc while deciding the pool once, and the peak
    resident set (ru_maxrss) of this process and of the CLI child.

Usage:

    .venv/bin/python bench/policy_bench.py                  # the issue's figures
    .venv/bin/python bench/policy_bench.py --runs 3 --cli-requests 2000   # a quick look
    .venv/bin/python bench/policy_bench.py --json policy.json   # and the figures as JSON
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import timeit
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from figures import Figure, add_json_option, write_json

from policy import (
    CompiledPolicy,
    DecisionRequest,
    compile_policy,
    decide,
    load_preset,
    parse_decision_request,
    preset_ids,
)
from policy.clock import Pause, clock_rate, months_of_practice
from policy.views import decision_json

HEADLINE = "stoke-childrens"
TARGET, MUST = 50_000, 20_000


# --- requests ----------------------------------------------------------------------------


def review_months(compiled: CompiledPolicy) -> list[int]:
    reviews = compiled.policy.reviews
    return sorted(reviews.months) if reviews else [3, 6, 9]


def request_data(compiled: CompiledPolicy, rng: random.Random, cases: int) -> dict[str, Any]:
    """One realistic request: an NQSW 0-15 months in, sometimes part-time or back from leave."""
    on = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(730))
    asye_start = on - dt.timedelta(days=rng.randrange(-20, 460))
    fte = rng.choice([1.0, 1.0, 1.0, 0.8, 0.6])
    pauses: list[Pause] = []
    if rng.random() < 0.2:
        start = asye_start + dt.timedelta(days=rng.randrange(30, 200))
        pauses.append(Pause(start, start + dt.timedelta(days=rng.randrange(14, 120))))
    rate = clock_rate(compiled.policy.programme, fte)
    months = months_of_practice(on, asye_start, tuple(pauses), rate)
    passed: list[int] = []
    for review in review_months(compiled):
        if review > months or rng.random() < 0.1:
            break
        passed.append(review)
    agreements = sorted(compiled.agreements) if rng.random() < 0.15 else []
    work_types = [w.id for w in compiled.policy.work_types]
    flags = sorted(compiled.flags)

    def case(case_id: str) -> dict[str, Any]:
        return {
            "case_id": case_id,
            "work_type": rng.choice(work_types),
            "children": rng.choice([1, 1, 1, 2, 2, 3, 4]),
            "role": "lead" if rng.random() < 0.8 else "co_work",
            "flags": [f for f in flags if rng.random() < 0.2],
            "external": rng.random() < 0.05,
        }

    return {
        "on": on.isoformat(),
        "worker": {
            "asye_start": asye_start.isoformat(),
            "fte": fte,
            "pauses": [{"from": str(p.start), "to": str(p.end)} for p in pauses],
            "reviews_passed": passed,
            "agreements": agreements,
        },
        "caseload": [case(f"C-{i}") for i in range(1, cases + 1)],
        "proposal": case("C-new"),
    }


def pool(compiled: CompiledPolicy, size: int, cases: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [request_data(compiled, rng, cases) for _ in range(size)]


# --- (a) in-process ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    per_second: float
    """Median over the runs, by the wall clock."""
    cpu_per_second: float
    """Median over the runs, by this process's CPU time (steadier on a busy machine)."""
    runs: list[float]

    @property
    def micros(self) -> float:
        return 1e6 / self.per_second


def measure(work: Any, items: list[Any], per_run: int, runs: int) -> Rate:
    """Median rate over `runs` timed runs of `per_run` calls, after one untimed warm-up pass."""
    for item in items:
        work(item)
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        done = 0
        while done < per_run:
            for item in items:
                work(item)
            done += len(items)
        wall.append(done / (time.perf_counter() - started))
        cpu.append(done / (time.process_time() - started_cpu))
    return Rate(statistics.median(wall), statistics.median(cpu), wall)


def in_process(
    compiled: CompiledPolicy, data: list[dict[str, Any]], args: argparse.Namespace
) -> Rate:
    requests = [parse_decision_request(d) for d in data]
    return measure(lambda r: decide(compiled, r), requests, args.per_run, args.runs)


def with_json(
    compiled: CompiledPolicy, data: list[dict[str, Any]], args: argparse.Namespace
) -> Rate:
    texts = [json.dumps(d) for d in data]

    def serve(text: str) -> str:
        request = parse_decision_request(json.loads(text))
        return json.dumps(decision_json(decide(compiled, request)))

    return measure(serve, texts, args.per_run // 4, args.runs)


def traced_peak(compiled: CompiledPolicy, requests: list[DecisionRequest]) -> int:
    tracemalloc.start()
    for request in requests:
        decide(compiled, request)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


# --- (b) the CLI ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    requests: int
    seconds: float
    startup_seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("caseload-bot")
    found = str(script) if script.exists() else shutil.which("caseload-bot")
    return [found] if found else [sys.executable, "-m", "bot"]


def pipe(lines: list[str]) -> float:
    command = [*cli_command(), "policy", "decide", "--policy", HEADLINE]
    started = time.perf_counter()
    done = subprocess.run(
        command, input="\n".join(lines) + "\n", capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    answers = done.stdout.splitlines()
    if done.returncode != 0 or len(answers) != len(lines) or '"error"' in done.stdout:
        raise SystemExit(f"the CLI failed (exit {done.returncode}): {done.stderr[:500]}")
    return seconds


def cli(data: list[dict[str, Any]], requests: int) -> CliRun:
    lines = [json.dumps(data[i % len(data)]) for i in range(requests)]
    startup = min(pipe(lines[:1]) for _ in range(3))
    return CliRun(requests, pipe(lines), startup)


# --- report --------------------------------------------------------------------------------


def pin_to_one_cpu() -> str:
    """In-process figures are for one core; `unpin` before starting the CLI child."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def unpin(cpus: set[int] | None) -> None:
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def reference_micros() -> float:
    """This machine's speed for plain Python: `sum(range(1000))`, best of 5 (about 10 µs on
    a current desktop core), so figures from different machines can be compared."""
    return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6


def maxrss_mib(who: int) -> float:
    # Linux reports kilobytes, macOS bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(who).ru_maxrss * scale / 2**20


def verdict(per_second: float) -> str:
    if per_second >= TARGET:
        return "meets the target"
    return "meets the must, under the target" if per_second >= MUST else "UNDER THE MUST"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1000, help="distinct requests (default 1000)")
    parser.add_argument("--cases", type=int, default=20, help="cases on each caseload")
    parser.add_argument("--runs", type=int, default=7, help="timed runs; the median is reported")
    parser.add_argument("--per-run", type=int, default=20_000, help="decisions per timed run")
    parser.add_argument("--cli-requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--presets", nargs="*", default=None, help="presets to measure (default: all)"
    )
    add_json_option(parser)
    return parser.parse_args(argv)


def rate_row(label: str, rate: Rate, note: str) -> tuple[str, str, str, str, str]:
    return (
        label,
        f"{rate.per_second:,.0f}/s",
        f"{rate.micros:.1f} µs",
        f"{rate.cpu_per_second:,.0f}/s",
        note,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    pinned = pin_to_one_cpu()
    presets = args.presets or preset_ids()
    reference = reference_micros()
    print(
        f"policy bench: Python {sys.version.split()[0]}, {pinned}; {args.pool} distinct requests"
        f" of {args.cases} cases per preset, median of {args.runs} runs of {args.per_run:,};"
        f" machine reference sum(range(1000)) = {reference:.1f} µs"
    )
    figures = [Figure("machine reference: sum(range(1000))", reference, "µs", better="lower")]
    rows: list[tuple[str, str, str, str, str]] = []
    headline: Rate | None = None
    headline_data: list[dict[str, Any]] = []
    for preset in presets:
        compiled = compile_policy(load_preset(preset))
        data = pool(compiled, args.pool, args.cases, args.seed)
        rate = in_process(compiled, data, args)
        rows.append(rate_row(f"decide, {preset}", rate, verdict(rate.per_second)))
        figures.append(Figure(f"decide, {preset}", rate.per_second, "decisions/s", TARGET, MUST))
        if preset == HEADLINE:
            headline, headline_data = rate, data
            served = with_json(compiled, data, args)
            rows.append(rate_row(f"parse + decide + JSON, {preset}", served, "what a server adds"))
            figures += [
                Figure(f"decide, {preset}, by CPU time", rate.cpu_per_second, "decisions/s"),
                Figure(f"parse + decide + JSON, {preset}", served.per_second, "decisions/s"),
            ]
    compiled = compile_policy(load_preset(HEADLINE))
    data = headline_data or pool(compiled, args.pool, args.cases, args.seed)
    peak = traced_peak(compiled, [parse_decision_request(d) for d in data])
    unpin(cpus)
    run = cli(data, args.cli_requests)
    rows.append(
        (
            f"CLI, {run.requests:,} JSON Lines, {HEADLINE}",
            f"{run.per_second:,.0f}/s",
            f"{run.seconds:.2f} s wall",
            "",
            f"start-up alone {run.startup_seconds:.2f} s",
        )
    )
    memory = [
        ("peak traced by tracemalloc, deciding the pool", f"{peak / 2**10:,.0f} KiB"),
        ("peak RSS, this process", f"{maxrss_mib(resource.RUSAGE_SELF):.0f} MiB"),
        ("peak RSS, CLI child", f"{maxrss_mib(resource.RUSAGE_CHILDREN):.0f} MiB"),
    ]
    rows += [(label, size, "", "", "") for label, size in memory]
    figures += [
        Figure(f"CLI, {run.requests:,} JSON Lines, {HEADLINE}", run.per_second, "decisions/s"),
        Figure("CLI start-up alone", run.startup_seconds, "s", better="lower"),
        Figure(memory[0][0], peak / 2**10, "KiB", better="lower"),
        Figure(memory[1][0], maxrss_mib(resource.RUSAGE_SELF), "MiB", better="lower"),
        Figure(memory[2][0], maxrss_mib(resource.RUSAGE_CHILDREN), "MiB", better="lower"),
    ]
    write_json("policy", args, figures)
    print()
    print(table(("measure", "rate (wall)", "each (wall)", "rate (CPU time)", "note"), rows))
    if headline is not None:
        spread = ", ".join(f"{r:,.0f}" for r in sorted(headline.runs))
        print(f"\n{HEADLINE} runs (decisions/s, wall): {spread}")
    return 0


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
