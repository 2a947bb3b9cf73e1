"""`caseload-bot report`: the caseload report of an organisation or a team, as Markdown,
CSV, a PNG of its charts or one HTML page. Text goes to stdout unless `--out` is given."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import sys
from pathlib import Path

from bot.cli_db import _date, _fail, _org_id, _wrap
from bot.report_formats import html_page, markdown, nqsw_csv
from bot.services import Services
from handlers.reports.caseload_report import caseload_report, london_today
from handlers.reports.figures import Period, Report

FORMATS = ("md", "csv", "png", "html")


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
    report.add_argument("--format", choices=FORMATS, default="md")
    report.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="write here (needed for png); text formats go to stdout without it",
    )
    report.set_defaults(run=_wrap(_report))


async def _report(services: Services, args: argparse.Namespace) -> int:
    if args.format == "png" and args.out is None:
        return _fail("--format png writes an image: give --out PATH")
    end = args.end or london_today(services.now())
    period = Period(args.start or end - dt.timedelta(days=6), end)
    if period.start > period.end:
        return _fail("--from is after --to")
    report = await caseload_report(services.tx, args.org, args.team, period, services.now())
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
        return nqsw_csv(report).encode()
    # matplotlib takes a second to import: only the formats that draw pay for it.
    from bot.report_charts import charts_png

    png = charts_png(report)
    if fmt == "png":
        return png
    return html_page(report, base64.b64encode(png).decode()).encode()
