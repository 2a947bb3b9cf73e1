"""Report benchmark (issue 11): the caseload report of a generated organisation of 10,000
NQSWs on SQLite. Issue figure: under 5 seconds.

The organisation is written straight into the tables (bulk inserts: the webhook path would
take many minutes to load 10,000 workers and 80,000 allocations, and is measured by
`ingest_bench.py`): `--teams` teams, each NQSW in their first year at a month spread over
it, `--cases` cases each (child in need, child protection, court work, as lead or
co-worker, 1 to 4 children), a supervision for most. The breach history goes through the
audit port, so the chain the report reads is a real one: a tenth of the NQSWs with a
breach opened in the last 12 weeks, most of them resolved days later.

Timed, on one process: the whole `caseload-bot report` path for the organisation (one read
transaction and the figures), then each rendering (Markdown, CSV, the charts' PNG), and
a team's report; the peak resident memory. Usage:

    .venv/bin/python bench/report_bench.py                    # 10,000 NQSWs
    .venv/bin/python bench/report_bench.py --nqsws 1000        # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform as host
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from figures import Figure, add_json_option, write_json
from sqlalchemy import insert

from bot.cli_report import render
from handlers import admin
from handlers.audit import BreachOpened, BreachResolved
from handlers.reports.caseload_report import caseload_report
from handlers.reports.figures import Period, Report
from policy import LONDON, parse_policy, preset_text
from storage.db import Database, connect
from storage.migrate import upgrade_database
from storage.models import (
    Allocation,
    AsyeRecord,
    CaseRow,
    Person,
    PersonRole,
    Supervision,
    Team,
)
from storage.repositories import Storage

ORG = "bench"
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.astimezone(LONDON).date()
WORK = (("child_in_need", 0.6), ("child_protection", 0.25), ("child_in_care", 0.15))
RULE = "stoke.cp.lead-from-nine-months"
TARGET_S = 5.0


async def build(db: Database, args: argparse.Namespace) -> None:
    rng = random.Random(11)
    tx = Storage(db)
    source, text = preset_text("stoke-childrens")
    await admin.create_organisation(
        tx, ORG, "Bench Council", parse_policy(text, source), source, text, "bench", NOW
    )
    at = NOW - dt.timedelta(days=400)
    teams = [
        {
            "id": t + 1,
            "org_id": ORG,
            "ref": f"T-{t:04d}",
            "name": f"Team {t}",
            "kind": "assessment",
            "occurred_at": at,
        }
        for t in range(args.teams)
    ]
    Rows = list[dict[str, Any]]
    people: Rows = []
    roles: Rows = []
    records: Rows = []
    cases: Rows = []
    allocations: Rows = []
    supervisions: Rows = []
    for n in range(args.nqsws):
        pid = n + 1
        people.append(
            {
                "id": pid,
                "org_id": ORG,
                "ref": f"NQ-{n:05d}",
                "display_name": f"NQSW {n}",
                "team_id": n % args.teams + 1,
                "manager_id": None,
                "occurred_at": at,
            }
        )
        roles.append({"person_id": pid, "role": "nqsw"})
        start = TODAY - dt.timedelta(days=rng.randrange(10, 360))
        records.append(
            {
                "person_id": pid,
                "start_date": start,
                "fte": 1.0,
                "assessor_id": None,
                "occurred_at": at,
            }
        )
        if rng.random() < 0.8:
            supervisions.append(
                {
                    "person_id": pid,
                    "on": TODAY - dt.timedelta(days=rng.randrange(1, 40)),
                    "recorded_at": at,
                }
            )
        for _ in range(args.cases):
            cid = len(cases) + 1
            work = rng.choices([w for w, _ in WORK], [p for _, p in WORK])[0]
            cases.append(
                {
                    "id": cid,
                    "org_id": ORG,
                    "ref": f"C-{cid:07d}",
                    "work_type": work,
                    "children": rng.randint(1, 4),
                    "flags": [],
                    "external": False,
                    "closed_on": None,
                    "occurred_at": at,
                }
            )
            role = "lead" if work == "child_in_need" or rng.random() < 0.5 else "co_work"
            allocations.append(
                {
                    "case_id": cid,
                    "person_id": pid,
                    "role": role,
                    "from_date": start,
                    "to_date": None,
                    "source": "import",
                    "overrides": [],
                    "occurred_at": at,
                }
            )
    async with db.engine.begin() as conn:
        for model, rows in (
            (Team, teams),
            (Person, people),
            (PersonRole, roles),
            (AsyeRecord, records),
            (CaseRow, cases),
            (Allocation, allocations),
            (Supervision, supervisions),
        ):
            for i in range(0, len(rows), 5000):
                await conn.execute(insert(model), rows[i : i + 5000])
    async with tx.write() as uow:
        for n in rng.sample(range(args.nqsws), args.nqsws // 10):
            worker, case = f"NQ-{n:05d}", (f"C-{n * args.cases + 1:07d}",)
            opened = NOW - dt.timedelta(days=rng.uniform(1, 84))
            day = opened.astimezone(LONDON).date()
            record = BreachOpened(worker=worker, rule=RULE, clause="3.2", cases=case, on=day)
            await uow.audit.append(ORG, record, "system", opened)
            if rng.random() < 0.7:
                closed = min(NOW, opened + dt.timedelta(days=rng.uniform(0.2, 15)))
                done = BreachResolved(
                    worker=worker,
                    rule=RULE,
                    clause="3.2",
                    cases=case,
                    on=closed.astimezone(LONDON).date(),
                )
                await uow.audit.append(ORG, done, "system", closed)


async def timed[T](work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await work()
    return result, time.perf_counter() - started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="caseload-report-bench-") as tmp:
        db = connect(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}", 5000)
        try:
            await upgrade_database(db)
            print(
                f"generating {args.nqsws:,} NQSWs in {args.teams:,} teams, "
                f"{args.cases} cases each ...",
                flush=True,
            )
            _, built = await timed(lambda: build(db, args))
            print(f"  generated in {built:.1f} s")
            tx = Storage(db)
            period = Period(TODAY - dt.timedelta(days=27), TODAY)

            async def whole() -> Report:
                return await caseload_report(tx, ORG, None, period, NOW)

            async def one_team() -> Report:
                return await caseload_report(tx, ORG, "T-0007", period, NOW)

            await whole()  # warm: the policy compiled, the statements cached
            runs = [await timed(whole) for _ in range(args.runs)]
            report = runs[-1][0]
            figures = {
                "report_s": min(s for _, s in runs),
                "team_report_s": min([(await timed(one_team))[1] for _ in range(args.runs)]),
            }
            for fmt in ("md", "csv", "png"):
                started = time.perf_counter()
                data = render(report, fmt)
                figures[f"render_{fmt}_s"] = time.perf_counter() - started
                figures[f"render_{fmt}_bytes"] = len(data)
        finally:
            await db.dispose()
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["nqsws"] = len(report.nqsws)
    figures["open_breaches"] = report.total.open_breaches
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nqsws", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=400)
    parser.add_argument("--cases", type=int, default=8, help="per NQSW (8)")
    parser.add_argument("--runs", type=int, default=3, help="the best of (3)")
    add_json_option(parser)
    args = parser.parse_args(argv)
    if min(args.nqsws, args.teams, args.cases, args.runs) < 1:
        parser.error("every count must be at least 1")
    figures = asyncio.run(run(args))
    print(
        f"\nreport of {figures['nqsws']:,} NQSWs ({figures['open_breaches']:,} open breaches):"
        f" {figures['report_s']:.2f} s (issue: under {TARGET_S:g} s); one team:"
        f" {1000 * figures['team_report_s']:.0f} ms"
        f"\nrendering: Markdown {figures['render_md_s']:.2f} s, CSV {figures['render_csv_s']:.2f} s,"
        f" charts PNG {figures['render_png_s']:.2f} s; peak RSS {figures['peak_rss_mib']:.0f} MiB"
        f"\n{host.processor() or host.machine()}, {os.cpu_count()} logical CPUs;"
        f" Python {sys.version.split()[0]}; SQLite {sqlite3.sqlite_version}"
    )
    write_json(
        "report",
        args,
        [
            Figure(
                f"report of {figures['nqsws']:,} NQSWs",
                figures["report_s"],
                "s",
                target=TARGET_S,
                must=TARGET_S,
                better="lower",
            ),
            Figure("one team's report", 1000 * figures["team_report_s"], "ms", better="lower"),
            Figure("charts PNG", figures["render_png_s"], "s", better="lower"),
            Figure("Markdown", figures["render_md_s"], "s", better="lower"),
            Figure("peak RSS", figures["peak_rss_mib"], "MiB", better="lower"),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
