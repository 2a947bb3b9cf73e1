"""`make bench`: every benchmark in turn, each in a subprocess, and their headline figures
with the machine's details in one Markdown file, bench/RESULTS.md.

Each script writes its figures with `--json PATH` (bench/figures.py); this runner only
chooses the sizes, runs PostgreSQL parts only when PostgreSQL answers, and lays the figures
out beside the issues' targets and musts, so that a run on another machine can be compared
with the committed one. A benchmark that fails or passes its time limit is reported as
failed and the others still run: the runner exits non-zero only if it breaks itself.

Usage:

    .venv/bin/python bench/run_all.py                 # everything, 10-12 minutes on 2 cores
    .venv/bin/python bench/run_all.py --quick         # small sizes, about 2 minutes: a smoke run
    .venv/bin/python bench/run_all.py --only slack --only policy --output /tmp/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from figures import NO_PG
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
STDERR_LINES = 15


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    measures: str
    full: tuple[str, ...]
    """Sizes for `make bench`: the issue's scenario where it fits the ~10-minute budget."""
    quick: tuple[str, ...]
    """Sizes for `--quick`: only that it runs and what shape its figures take."""
    time_limit_s: float
    without_pg: tuple[str, ...] | None = None
    """The options that leave PostgreSQL out (None: it never uses PostgreSQL)."""
    pg_part: str = "postgresql"
    """What the table calls the part skipped without PostgreSQL."""


def opts(text: str) -> tuple[str, ...]:
    return tuple(text.split())


BENCHES = (
    Bench(
        "policy",
        "policy_bench.py",
        "The policy engine: decisions per second in-process and through the CLI, memory",
        (),
        opts("--runs 3 --per-run 5000 --pool 300 --cli-requests 2000"),
        600,
    ),
    Bench(
        "ingest",
        "ingest_bench.py",
        "Webhooks over HTTP (issue 12): one event's latency, bulk events/s singly and batched,"
        " over the database's raw single-row commits/s, decisions meanwhile; an NQSW holding"
        " 1,500 allocations against one holding 15",
        opts("--allocations 2000 --workers 150 --single 300 --batch 100 --concurrency 8"),
        opts(
            "--allocations 100 --workers 20 --single 30 --batch 50 --concurrency 8"
            " --big-holds 150 --worker-events 30 --commit-seconds 0.5"
        ),
        1200,
        opts("--sqlite-only"),
    ),
    Bench(
        "decision_latency",
        "decision_latency.py",
        "Where a decision's time goes while webhooks are ingested (issue 7)",
        opts("--allocations 1500 --workers 100"),
        opts("--allocations 100 --workers 20 --idle 10"),
        900,
        opts("--sqlite-only"),
    ),
    Bench(
        "slack",
        "slack_bench.py",
        "Signed /allocate slash commands through the server, against a bare bolt ack",
        (),
        opts("--seconds 2 --warmup 0.5 --nqsws 6 --cases 60"),
        300,
    ),
    Bench(
        "alerts",
        "alerts_bench.py",
        "Breach alerts (issue 9): step-up to channel latency; 3 replicas through faults",
        opts("--breaches 600"),
        opts("--events 30 --teams 10 --breaches 60 --fault-teams 10 --platform slack"),
        1200,
        opts("--only latency"),
        "faults (PostgreSQL)",
    ),
    Bench(
        "import",
        "import_bench.py",
        "`caseload-bot import` of a generated council (issue 12): wall time, memory, decisions meanwhile",
        (),  # the council: 2,500 workers, 50,000 allocations
        opts("--allocations 200 --workers 20"),
        900,
        opts("--sqlite-only"),
    ),
    Bench(
        "report",
        "report_bench.py",
        "The caseload report of a generated council of 10,000 NQSWs on SQLite (issue 11)",
        (),
        opts("--nqsws 500 --teams 20 --runs 1"),
        600,
    ),
)
NAMES = tuple(b.name for b in BENCHES)


# --- running -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One benchmark's run: its figures (`document`, the script's JSON) or why there are none."""

    name: str
    measures: str
    command: str
    seconds: float = 0.0
    exit_code: int | None = None
    """None: stopped at its time limit."""
    document: dict[str, Any] | None = None
    output: str = ""
    stderr_tail: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Parts the runner left out, with why."""
    problem: str = ""
    """Why a run that exited 0 still counts as failed (no figures written)."""

    @property
    def failed(self) -> bool:
        return self.exit_code != 0 or self.document is None


class Reporter:
    """A live line per benchmark on a terminal (rich), one plain line per event otherwise."""

    def __init__(self) -> None:
        self.console = Console()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
        )

    @contextmanager
    def running(self, name: str, command: str) -> Iterator[TaskID]:
        self.console.print(f"{name}: {command}", highlight=False, soft_wrap=True)
        with self.progress:
            task = self.progress.add_task(name)
            yield task
            self.progress.remove_task(task)

    def latest(self, task: TaskID, name: str, line: str) -> None:
        self.progress.update(task, description=f"{name}: {line[:100]}")

    def finished(self, outcome: Outcome) -> None:
        verdict = status(outcome)
        self.console.print(f"{outcome.name}: {verdict} in {outcome.seconds:.0f} s", highlight=False)


def last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else "starting ..."


def run_one(
    bench: Bench, quick: bool, pg_url: str | None, workdir: Path, reporter: Reporter
) -> Outcome:
    """Run one benchmark's script with a time limit. Its process group is killed after it,
    so that no server or replica it started outlives it, even when it was stopped or this
    runner interrupted."""
    options = list(bench.quick if quick else bench.full)
    skipped: dict[str, str] = {}
    if bench.without_pg is not None:
        if pg_url is None:
            options += bench.without_pg
            skipped[bench.pg_part] = NO_PG
        else:
            options += ["--pg-url", pg_url]
    script = HERE / bench.script
    shown = " ".join([".venv/bin/python", str(script.relative_to(ROOT)), *options])
    outcome = Outcome(bench.name, bench.measures, shown, skipped=skipped)
    json_path, out_path, err_path = (
        workdir / f"{bench.name}.{ext}" for ext in ("json", "out", "err")
    )
    command = [sys.executable, str(script), *options, "--json", str(json_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (
        reporter.running(bench.name, shown) as task,
        out_path.open("w") as out,
        err_path.open("w") as err,
    ):
        started = time.monotonic()
        child = subprocess.Popen(
            command, stdout=out, stderr=err, cwd=ROOT, env=env, start_new_session=True
        )
        try:
            while (code := child.poll()) is None:
                if time.monotonic() - started > bench.time_limit_s:
                    break
                reporter.latest(task, bench.name, last_line(out_path))
                time.sleep(0.5)
        finally:
            with suppress(ProcessLookupError):  # nothing of it left: it ended cleanly
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        outcome.seconds = time.monotonic() - started
    outcome.exit_code = code
    outcome.output = out_path.read_text(errors="replace")
    outcome.stderr_tail = err_path.read_text(errors="replace").splitlines()[-STDERR_LINES:]
    if code == 0:
        try:
            outcome.document = json.loads(json_path.read_text())
        except (OSError, ValueError) as e:
            outcome.problem = f"it exited 0 but wrote no figures: {e}"
    reporter.finished(outcome)
    return outcome


# --- the machine ---------------------------------------------------------------------------


async def _server_version(pg_url: str) -> str:
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def pg_version(pg_url: str) -> str | None:
    """The server's version if PostgreSQL answers a query at `pg_url`, else None."""
    try:
        return asyncio.run(_server_version(pg_url))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _field(text: str, key: str, sep: str) -> str:
    for line in text.splitlines():
        name, _, value = line.partition(sep)
        if name.strip() == key:
            return value.strip().strip('"')
    return ""


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def commit(output: Path) -> str:
    """The commit measured, marked when the work tree differed from it (RESULTS.md aside)."""
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", ".", f":!{output.resolve()}")
    return f"{head} (with uncommitted changes)" if changed else head


def machine(pg_url: str, version: str | None) -> list[tuple[str, str]]:
    cpuinfo = _read("/proc/cpuinfo")
    mem_kib = _field(_read("/proc/meminfo"), "MemTotal", ":").removesuffix("kB").strip()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    os_name = _field(_read("/etc/os-release"), "PRETTY_NAME", "=") or platform.system()
    host = make_url(pg_url)
    return [
        ("CPU", _field(cpuinfo, "model name", ":") or platform.processor() or "unknown"),
        ("cores", f"{os.cpu_count()} logical, {usable} usable"),
        ("memory", f"{int(mem_kib) / 2**20:.1f} GiB" if mem_kib.isdigit() else "unknown"),
        ("OS", f"{os_name} ({platform.system()} {platform.release()}, {platform.machine()})"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("SQLite", sqlite3.sqlite_version),
        (
            "PostgreSQL",
            f"{version} at {host.host}:{host.port}"
            if version
            else f"none answered at {host.host}:{host.port}: its parts skipped",
        ),
        ("load average at the start", load_average()),
    ]


def load_average() -> str:
    """Beside the start's, the end's: how busy the machine was with other work meanwhile."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


# --- the report ----------------------------------------------------------------------------


def _meets(value: float, bound: float, better: str) -> bool:
    return value >= bound if better == "higher" else value <= bound


def met(figure: dict[str, Any]) -> str:
    """yes; must only (the target missed); no (a target missed, no must); **no** (the must)."""
    value, target, must = (figure[k] for k in ("value", "target", "must"))
    better = str(figure["better"])
    if target is None and must is None:
        return ""
    if value is None:
        return "**no figure**"
    if must is not None and not _meets(value, must, better):
        return "**no**"
    if target is None or _meets(value, target, better):
        return "yes"
    return "must only" if must is not None else "no"


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if size >= 1 else f"{value:.3g}"


def markdown(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
        *("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows),
    ]


def status(o: Outcome) -> str:
    if o.exit_code is None:
        return "failed: stopped at its time limit"
    if o.exit_code != 0:
        return f"failed: exit {o.exit_code}"
    return f"failed: {o.problem}" if o.document is None else "ok"


def tally(o: Outcome, key: str) -> str:
    """'met / of' the figures with a `key` (target or must), or '–' if none has one."""
    if o.document is None:
        return "–"
    marks = [(f, met(f)) for f in o.document["figures"] if f.get(key) is not None]
    if not marks:
        return "–"
    passing = {"target": ("yes",), "must": ("yes", "must only")}[key]
    return f"{sum(mark in passing for _, mark in marks)} / {len(marks)}"


def section(o: Outcome) -> list[str]:
    out = [f"## {o.name}", "", f"{o.measures}.", "", f"`{o.command}`", ""]
    if o.failed:
        out.append(f"**{status(o)}** after {o.seconds:.0f} s.")
        if o.stderr_tail:
            out += ["", "The last lines of its stderr:", "", "```", *o.stderr_tail, "```"]
    else:
        assert o.document is not None
        rows = [
            (
                f["metric"],
                number(f["value"]),
                f["unit"],
                *map(number, (f["target"], f["must"])),
                met(f),
            )
            for f in o.document["figures"]
        ]
        skipped = {**o.skipped, **o.document["skipped"]}
        rows += [(part, f"skipped: {why}", "", "", "", "") for part, why in skipped.items()]
        out += markdown(("metric", "value", "unit", "target", "must", "met?"), rows)
    if o.output.strip():
        out += ["", "<details><summary>its output</summary>", "", "```", o.output.rstrip()]
        out += ["```", "", "</details>"]
    return [*out, ""]


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def render(
    outcomes: Sequence[Outcome],
    about: Sequence[tuple[str, str]],
    when: dt.datetime,
    head: str,
    invocation: str,
) -> str:
    """RESULTS.md: when, what and where, a summary line per benchmark, then each one's
    figures (or its failure) and its own output folded away."""
    took = sum(o.seconds for o in outcomes)
    out = [
        "# Benchmark results",
        "",
        f"Run {when:%Y-%m-%d %H:%M} UTC at commit {head} by `{invocation}`; the benchmarks"
        f" took {duration(took)}. To reproduce: bench/README.md. Figures from a machine shared"
        " with other work vary from run to run, PostgreSQL's most.",
        "",
        *markdown(("machine", ""), about),
        "",
        *markdown(
            ("benchmark", "result", "seconds", "targets met", "musts met"),
            [
                (o.name, status(o), f"{o.seconds:.0f}", tally(o, "target"), tally(o, "must"))
                for o in outcomes
            ],
        ),
        "",
        "Targets and musts are the issues'. *must only*: the must met, the target not; "
        "**no**: the must not met.",
        "",
    ]
    for o in outcomes:
        out += section(o)
    return "\n".join(out)


# --- the command ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a ~2-minute smoke run")
    parser.add_argument(
        "--only", action="append", choices=NAMES, metavar="NAME", help=f"one of {', '.join(NAMES)}"
    )
    parser.add_argument(
        "--output", type=Path, default=HERE / "RESULTS.md", help="where (bench/RESULTS.md)"
    )
    parser.add_argument(
        "--pg-url", default=PG_URL, help=f"PostgreSQL, used if it answers ({PG_URL})"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    when = dt.datetime.now(dt.UTC)
    head = commit(args.output)
    version = pg_version(args.pg_url)
    about = machine(args.pg_url, version)
    pg_url = args.pg_url if version else None
    reporter = Reporter()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="caseload-bench-run-") as tmp:
        for bench in BENCHES:
            if args.only is None or bench.name in args.only:
                outcomes.append(run_one(bench, args.quick, pg_url, Path(tmp), reporter))
    about.append(("load average at the end", load_average()))
    if args.quick:
        about.append(("sizes", "--quick: small, a smoke run; not figures to compare"))
    invocation = " ".join(["bench/run_all.py", *(argv if argv is not None else sys.argv[1:])])
    args.output.write_text(render(outcomes, about, when, head, invocation))
    reporter.console.print(f"wrote {args.output}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
