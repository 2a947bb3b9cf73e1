"""`caseload-bot report`: the caseload report of an organisation or a team, as Markdown,
CSV, a PNG of its charts or one HTML page. Text goes to stdout unless `--out` is given."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import sys
from pathlib import Path

from bot.cli_db import _date, _fail, _org_id, _wrap, _write_csv
from bot.report_formats import (
    equality_csv,
    html_page,
    markdown,
    nqsw_csv,
    teams_csv,
    weeks_csv,
)
from bot.services import Services
from handlers.admin import checkpoint, checkpoint_line
from handlers.chat.report import chart_of
from handlers.errors import EqualityViewOff
from handlers.reports.caseload_report import caseload_report, london_today
from handlers.reports.figures import Period, Report
from policy import LONDON

FORMATS = ("md", "csv", "png", "html", "pack")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report", help="caseloads against the cap, breaches and their resolution, with charts"
    )
    report.add_argument("--org", type=_org_id, required=True)
    report.add_argument("--team", metavar="TEAM_REF", help="one team only")
    report.add_argument(
        "--from",
        dest="start",
        type=_date,
        metavar="YYYY-MM-DD",
        help="first day of the period (default: six days before --to)",
    )
    report.add_argument(
        "--to",
        dest="end",
        type=_date,
        metavar="YYYY-MM-DD",
        help="last day of the period (default: today, Europe/London)",
    )
    report.add_argument(
        "--format",
        choices=FORMATS,
        default="md",
        help="pack: a folder for an inspection (the CSVs, the charts, the HTML page, the"
        " period's audit rows and the chain's checkpoint, with their SHA-256 sums)",
    )
    report.add_argument(
        "--equality",
        action="store_true",
        help="add the equality view (the measures by cohort) for the principal social worker;"
        " the whole organisation only, where it records cohorts. csv: the view's table alone",
    )
    report.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="write here (needed for png); text formats go to stdout without it",
    )
    report.set_defaults(run=_wrap(_report))


async def _report(services: Services, args: argparse.Namespace) -> int:
    if args.format in ("png", "pack") and args.out is None:
        return _fail(f"--format {args.format} writes files: give --out PATH")
    if args.format == "pack" and args.out.exists() and any(args.out.iterdir()):
        return _fail(f"{args.out} is not empty: a pack goes into a new folder")
    end = args.end or london_today(services.now())
    period = Period(args.start or end - dt.timedelta(days=6), end)
    if period.start > period.end:
        return _fail("--from is after --to")
    if args.equality and args.team is not None:
        return _fail("--equality is for the whole organisation: leave out --team")
    report = await caseload_report(
        services.tx, args.org, args.team, period, services.now(), equality=args.equality
    )
    if args.equality and report.equality is None:
        raise EqualityViewOff(org=args.org)
    if args.format == "pack":
        return await _pack(services, report, args.out)
    data = render(report, args.format)
    if args.out is None:
        sys.stdout.write(data.decode())
    else:
        args.out.write_bytes(data)
        print(f"wrote {args.out} ({len(data):,} bytes)", file=sys.stderr)
    return 0


def render(report: Report, fmt: str) -> bytes:
    if fmt == "md":
        return markdown(report).encode()
    if fmt == "csv":
        return (nqsw_csv(report) if report.equality is None else equality_csv(report)).encode()
    # matplotlib takes a second to import: only the formats that draw pay for it.
    from bot.report_charts import charts_png

    png = charts_png(chart_of(report))
    if fmt == "png":
        return png
    return html_page(report, base64.b64encode(png).decode()).encode()


async def _pack(services: Services, report: Report, folder: Path) -> int:
    """Everything an inspector asks for, for the period, and the sums to show nothing in
    it changed after it was written."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "summary.md": render(report, "md"),
        "nqsws.csv": nqsw_csv(report).encode(),
        "teams.csv": teams_csv(report).encode(),
        "weeks.csv": weeks_csv(report).encode(),
        **({} if report.equality is None else {"equality.csv": equality_csv(report).encode()}),
        "charts.png": (png := render(report, "png")),
        "report.html": html_page(report, base64.b64encode(png).decode()).encode(),
        "checkpoint.txt": (
            checkpoint_line(await checkpoint(services.tx, report.org_id)) + "\n"
        ).encode(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    start = dt.datetime.combine(report.period.start, dt.time(), LONDON)
    end = dt.datetime.combine(report.period.end + dt.timedelta(days=1), dt.time(), LONDON)
    with (folder / "audit.csv").open("w", newline="", encoding="utf-8") as out:
        rows = await _write_csv(services, report.org_id, start, end, out)
    names = sorted([*files, "audit.csv"])
    sums = "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names)
    (folder / "SHA256SUMS").write_text(sums)
    print(
        f"wrote {folder}: {len(names) + 1} files, {len(report.nqsws)} NQSWs, {rows} audit rows",
        file=sys.stderr,
    )
    return 0
