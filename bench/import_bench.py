"""Import benchmark (issue 12): `caseload-bot import` of a generated council, on SQLite and
PostgreSQL, with the decision API asked meanwhile.

The council is written as the two CSV files `bot/csv_import.py` reads: `--workers` staff
in `--teams` teams, every `--nqsw-every`th an NQSW whose ASYE started 200 days ago, and
`--allocations` cases each allocated to one worker as lead (every 25th case child
protection, so NQSWs holding one open breaches, as do their caseloads over the cap). The
organisation is created on the stoke-childrens preset in a fresh database (`prepare` of
`ingest_bench.py`), the server started on it (`start_server`), and the real CLI run as a
subprocess. Measured:

(a) the import: wall time (validation included), events per second, and the child's peak
    resident memory (its own `ru_maxrss`, from `wait4`). Issue targets on SQLite: under 60 s (must 3
    minutes), under 500 MiB;
(b) meanwhile, POST /api/v1/decisions every `--interval-ms`: p50/p99 and failures (target
    p99 under 50 ms, must 150 ms);
(c) the same import again: every event already imported (what a resumed run skips).

The probe's worker is imported first, alone, by the same CLI (so the decisions do not fail
before the import reaches it). PostgreSQL is measured when it answers at `--pg-url`, in a
fresh database dropped afterwards: the CLI takes only DATABASE_URL, which cannot carry a
schema's search_path to asyncpg. Loopback only; every loop is bounded. Usage:

    .venv/bin/python bench/import_bench.py                          # the issue's figures
    .venv/bin/python bench/import_bench.py --allocations 2000 --workers 100   # a quick look
    .venv/bin/python bench/import_bench.py --json import.json       # and the figures as JSON
    .venv/bin/python bench/import_bench.py --pg-only                # PostgreSQL alone
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import aiohttp
from figures import Figure, add_json_option, write_json
from ingest_bench import ORG, PG_URL, interactive, on_postgresql, pct, prepare, start_server
from ingest_bench import Result as Probe
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.csv_import import ALLOCATION_COLUMNS, STAFF_COLUMNS
from storage.db import connect

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "caseload-bot"
WALL_TARGET_S, WALL_MUST_S = 60.0, 180.0
RSS_TARGET_MIB = 500.0
DECISION_P99_TARGET_MS, DECISION_P99_MUST_MS = 50.0, 150.0
WORK_TYPES = ("child_in_need", "child_and_family_assessment", "child_in_care", "private_law")
SUMMARY = re.compile(
    r"events: (\d+); applied: (\d+); unchanged: (\d+); already imported: (\d+)\n"
    r"breaches opened: (\d+)"
)


# --- the council, as CSV -------------------------------------------------------------------


def staff_row(i: int, args: argparse.Namespace) -> dict[str, str]:
    nqsw = i % args.nqsw_every == 0
    team = i % args.teams
    return {
        "ref": f"W-{i:05d}",
        "name": f"Worker {i}",
        "roles": "nqsw" if nqsw else "social_worker",
        "team_ref": f"T-{team:02d}",
        "team_name": f"Team {team}",
        "team_kind": "assessment",
        "asye_start": (dt.date.today() - dt.timedelta(days=200)).isoformat() if nqsw else "",
    }


def allocation_row(i: int, args: argparse.Namespace) -> dict[str, str]:
    return {
        "case_ref": f"C-{i:06d}",
        "work_type": "child_protection" if i % 25 == 0 else WORK_TYPES[i % len(WORK_TYPES)],
        "children": str(1 + i % 2),
        "worker_ref": f"W-{i % args.workers:05d}",
        "role": "lead",
    }


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def council(tmp: Path, args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """The probe's worker alone (with no allocations), then the whole council."""
    staff = [staff_row(i, args) for i in range(args.workers)]
    paths = [tmp / n for n in ("probe-staff.csv", "no-allocations.csv", "staff.csv", "alloc.csv")]
    write_csv(paths[0], STAFF_COLUMNS, staff[:1])
    write_csv(paths[1], ALLOCATION_COLUMNS, [])
    write_csv(paths[2], STAFF_COLUMNS, staff)
    write_csv(
        paths[3], ALLOCATION_COLUMNS, [allocation_row(i, args) for i in range(args.allocations)]
    )
    return paths[:2], paths[2:]


# --- the measurements ----------------------------------------------------------------------


@dataclass
class Run:
    """One `caseload-bot import`."""

    seconds: float = 0.0
    exit_code: int = 0
    peak_rss_mib: float = 0.0
    """The child's peak resident memory (`ru_maxrss` is in KiB on Linux)."""
    events: int = 0
    applied: int = 0
    unchanged: int = 0
    already_imported: int = 0
    breaches_opened: int = 0
    stderr: str = ""


@dataclass
class Result:
    backend: str
    command: str = ""
    first: Run = field(default_factory=Run)
    again: Run = field(default_factory=Run)
    probe: Probe = field(default_factory=lambda: Probe(""))


def command(files: list[Path]) -> list[str]:
    return [str(CLI), "import", "--org", ORG, *map(str, files)]


async def run_import(url: str, files: list[Path], tmp: Path) -> Run:
    """The CLI in a subprocess, its summary read from stdout, its own peak RSS from `wait4`
    (not `RUSAGE_CHILDREN`, the maximum over every child so far, servers included)."""
    out_path, err_path = tmp / "import.out", tmp / "import.err"
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen(
            command(files),
            env={**os.environ, "DATABASE_URL": url},
            cwd=ROOT,
            stdout=out,
            stderr=err,
        )
        _, status, usage = await asyncio.to_thread(os.wait4, child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    run = Run(
        time.perf_counter() - started,
        child.returncode,
        usage.ru_maxrss / 1024,
        stderr=err_path.read_text(errors="replace")[-2000:],
    )
    found = SUMMARY.search(out_path.read_text(errors="replace"))
    if found:
        (
            run.events,
            run.applied,
            run.unchanged,
            run.already_imported,
            run.breaches_opened,
        ) = map(int, found.groups())
    return run


async def measure(backend: str, url: str, args: argparse.Namespace) -> Result:
    result = Result(backend)
    token = await prepare(url, None)
    with tempfile.TemporaryDirectory(prefix="caseload-import-") as tmp:
        probe_files, files = council(Path(tmp), args)
        result.command = shlex.join(
            ["DATABASE_URL=" + make_url(url).render_as_string(), *command(files)]
        )
        warm = await run_import(url, probe_files, Path(tmp))
        if warm.exit_code != 0:
            raise RuntimeError(f"importing the probe's worker failed: {warm.stderr}")
        server = start_server(url, None)
        try:
            stop = asyncio.Event()
            limit = 10 + int(args.max_seconds / args.interval)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                probe = asyncio.create_task(
                    interactive(
                        session, server.port, token, args.interval, stop, limit, result.probe
                    )
                )
                result.first = await run_import(url, files, Path(tmp))
                stop.set()
                await probe
            result.again = await run_import(url, files, Path(tmp))
        finally:
            server.stop()
    for run in (result.first, result.again):
        if run.exit_code != 0:
            print(f"{backend}: the import exited {run.exit_code}:\n{run.stderr}", flush=True)
    return result


async def with_pg_database(url: str, args: argparse.Namespace) -> Result:
    """A fresh database on the server at `url`, dropped afterwards."""
    name = f"bench_import_{uuid.uuid4().hex[:12]}"
    admin = connect(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            return await measure(
                "postgresql",
                make_url(url).set(database=name).render_as_string(hide_password=False),
                args,
            )
        finally:
            async with admin.engine.connect() as conn:
                await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def rate(events: int, seconds: float) -> float | None:
    return events / seconds if seconds else None


def table(results: list[Result]) -> str:
    head = (
        "backend",
        "events",
        "import s",
        "events/s",
        "peak RSS MiB",
        "breaches",
        "decision p50 ms",
        "decision p99 ms",
        "decisions",
        "again s",
    )
    rows = [head]
    for r in results:
        rows.append(
            (
                r.backend,
                f"{r.first.events:,}",
                f"{r.first.seconds:.1f}",
                f"{rate(r.first.events, r.first.seconds) or 0:,.0f}",
                f"{r.first.peak_rss_mib:,.0f}",
                f"{r.first.breaches_opened:,}",
                f"{pct(r.probe.decisions, 50):.1f}",
                f"{pct(r.probe.decisions, 99):.1f}",
                f"{len(r.probe.decisions)} ok, {r.probe.decision_errors} failed",
                f"{r.again.seconds:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    for r in results:
        lines.append(f"{r.backend}: {r.command}")
        for name, run in (("import", r.first), ("again", r.again)):
            lines.append(
                f"  {name}: exit {run.exit_code}; applied {run.applied:,}, unchanged"
                f" {run.unchanged:,}, already imported {run.already_imported:,}"
            )
    return "\n".join(lines)


def figures(results: list[Result]) -> list[Figure]:
    out = []
    for r in results:
        sqlite = r.backend == "sqlite"
        out += [
            Figure(
                f"{r.backend}: import wall time",
                r.first.seconds,
                "s",
                WALL_TARGET_S if sqlite else None,
                WALL_MUST_S if sqlite else None,
                "lower",
            ),
            Figure(
                f"{r.backend}: import events", rate(r.first.events, r.first.seconds), "events/s"
            ),
            Figure(
                f"{r.backend}: import peak memory",
                r.first.peak_rss_mib,
                "MiB",
                RSS_TARGET_MIB if sqlite else None,
                better="lower",
            ),
            Figure(
                f"{r.backend}: decision during import, p50",
                pct(r.probe.decisions, 50),
                "ms",
                better="lower",
            ),
            Figure(
                f"{r.backend}: decision during import, p99",
                pct(r.probe.decisions, 99),
                "ms",
                DECISION_P99_TARGET_MS if sqlite else None,
                DECISION_P99_MUST_MS if sqlite else None,
                "lower",
            ),
            Figure(
                f"{r.backend}: decisions failed",
                r.probe.decision_errors,
                "requests",
                better="lower",
            ),
            Figure(
                f"{r.backend}: import run again (all already imported)",
                r.again.seconds,
                "s",
                better="lower",
            ),
            Figure(f"{r.backend}: import exit code", r.first.exit_code, "", better="lower"),
        ]
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--allocations", type=int, default=50_000, help="cases, one allocation each (50,000)"
    )
    parser.add_argument("--workers", type=int, default=2_500, help="workers (2,500)")
    parser.add_argument("--teams", type=int, default=50, help="teams (50)")
    parser.add_argument("--nqsw-every", type=int, default=10, help="every Nth worker is an NQSW")
    parser.add_argument(
        "--interval-ms", type=float, default=20.0, help="decision API every N ms (20)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=3600, help="bound on the decision client's loop"
    )
    parser.add_argument(
        "--pg-url", default=PG_URL, help=f"PostgreSQL to use if it answers ({PG_URL})"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    only.add_argument("--pg-only", action="store_true", help="skip SQLite")
    add_json_option(parser)
    args = parser.parse_args(argv)
    args.interval = args.interval_ms / 1000
    for name in ("allocations", "workers", "teams", "nqsw_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


async def run(args: argparse.Namespace, skipped: dict[str, str]) -> list[Result]:
    results: list[Result] = []
    print(f"{args.workers:,} workers, {args.allocations:,} cases and allocations", flush=True)
    if args.pg_only:
        skipped["sqlite"] = "--pg-only"
    else:
        with tempfile.TemporaryDirectory(prefix="caseload-bench-") as tmp:
            print("sqlite ...", flush=True)
            results.append(await measure("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'db'}", args))
    results += await on_postgresql(
        args.pg_url,
        args.sqlite_only,
        skipped,
        "in a fresh database",
        partial(with_pg_database, args.pg_url, args),
    )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    shown = shlex.join([".venv/bin/python", "bench/import_bench.py", *given])
    print(f"command: {shown}", flush=True)
    started = time.perf_counter()
    skipped: dict[str, str] = {}
    results = asyncio.run(run(args, skipped))
    write_json("import", args, figures(results), skipped)
    print()
    print(table(results))
    print(
        f"\n(a) `caseload-bot import` of {args.workers:,} staff rows and {args.allocations:,}"
        " allocation rows (validation included), in a subprocess; peak RSS is the child's."
        f"\n(b) POST /api/v1/decisions every {args.interval_ms:g} ms during (a), to the server"
        " on the same database.\n(c) the same files again: every event already imported."
        f"\nCPU: {os.cpu_count()} logical; Python {sys.version.split()[0]}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    return 1 if any(r.first.exit_code or r.again.exit_code for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
