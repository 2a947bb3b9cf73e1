"""`caseload-bot import --org ORG [--skip-bad-rows] staff.csv allocations.csv`.

Validates every row of both files, then applies them as case-management events (the same
events, through the same code, as the webhooks), one short transaction per event.

Exit codes: 0 imported; 2 nothing imported (a bad row, a bad header, an unknown
organisation, an unreadable file), or the import stopped on an event it could not apply;
3 with `--skip-bad-rows` when the good rows were imported and bad rows were skipped.
Bad rows are listed on stderr as `FILE:LINE: FIELD: message`; the summary goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.csv_import import CsvFile, ImportReport, import_files
from bot.services import bootstrap
from bot.settings import settings
from handlers.errors import Busy, CaseloadError
from policy import PolicyError

EXIT_SKIPPED = 3
"""`--skip-bad-rows` imported the good rows and skipped at least one bad row."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = sub.add_parser(
        "import",
        help="import staff and allocations from CSV (for councils without webhooks)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--org", required=True, help="the organisation, e.g. stoke")
    command.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help=f"import the good rows, list the bad ones, exit {EXIT_SKIPPED} if any were skipped",
    )
    command.add_argument("staff", type=Path, help="staff.csv")
    command.add_argument("allocations", type=Path, help="allocations.csv")
    command.set_defaults(run=run)


def _fail(message: object) -> int:
    print(f"caseload-bot: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    files: list[CsvFile] = []
    for path in (args.staff, args.allocations):
        try:
            files.append(CsvFile(str(path), path.read_bytes()))
        except OSError as exc:
            return _fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}")

    async def go() -> ImportReport:
        services = bootstrap(settings())
        try:
            return await import_files(
                services.tx,
                args.org,
                files[0],
                files[1],
                skip_bad_rows=args.skip_bad_rows,
                at=services.now(),
            )
        finally:
            await services.close()

    try:
        report = asyncio.run(go())
    except Busy:
        return _fail("the database stayed busy; events applied so far stay, run the import again")
    except (CaseloadError, PolicyError) as exc:
        return _fail(exc)
    return _report(report)


def _report(report: ImportReport) -> int:
    for error in report.errors:
        print(error, file=sys.stderr)
    if not report.imported:
        if report.file_invalid:
            return _fail("nothing was imported: a file is not in the expected form")
        rows = "row is" if report.bad_rows == 1 else "rows are"
        return _fail(
            f"nothing was imported: {report.bad_rows} {rows} bad (fix them, or use --skip-bad-rows)"
        )
    print(
        f"rows read: {report.rows_read} (bad, skipped: {report.bad_rows})\n"
        f"events: {report.events}; applied: {report.applied}; unchanged: {report.unchanged}; "
        f"already imported: {report.already_imported}\n"
        f"breaches opened: {report.breaches_opened}; resolved: {report.breaches_resolved}"
    )
    if report.failure is not None:
        print(report.failure, file=sys.stderr)
        done = report.applied + report.unchanged + report.already_imported
        return _fail(
            f"the import stopped after {done} of {report.events} events; those stay applied "
            "and are skipped when the import is run again"
        )
    return EXIT_SKIPPED if report.bad_rows else 0
