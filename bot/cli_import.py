"""`caseload-bot import --org ORG [--skip-bad-rows] staff.csv allocations.csv`.

Validates every row of both files, then applies them as case-management events (the same
events, through the same code, as the webhooks), committed in groups; a progress bar shows
on stderr when it is a terminal.

An import that is interrupted (Ctrl-C, a database that stays busy, a kill) keeps every
group it committed: run the same command again to continue, and what was applied counts
as already imported.

Exit codes: 0 imported; 2 nothing imported (a bad row, a bad header, an unknown
organisation, an unreadable file), or the import stopped on an event it could not apply or
on a database that stayed busy; 3 with `--skip-bad-rows` when the good rows were imported
and bad rows were skipped; 130 interrupted by Ctrl-C.
Bad rows are listed on stderr as `FILE:LINE: FIELD: message`; the summary goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.csv_import import CsvFile, ImportReport, import_files
from bot.services import bootstrap
from bot.settings import settings
from handlers.errors import Busy, CaseloadError
from policy import PolicyError

EXIT_SKIPPED = 3
"""`--skip-bad-rows` imported the good rows and skipped at least one bad row."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: the shell's code for a command ended by SIGINT (128 + 2)."""


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


class _Tracker:
    """How far the import has got, as the last progress report said: for the message when
    it is interrupted, and for the bar on a terminal."""

    def __init__(self, bar: Progress | None) -> None:
        self.done = 0
        self.total = 0
        self._bar = bar
        self._task = None if bar is None else bar.add_task("importing", total=None)

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=total)

    def resume_hint(self, what: str) -> str:
        so_far = f" after {self.done:,} of {self.total:,} events" if self.total else ""
        return (
            f"{what}{so_far}; the events applied stay applied: run the same command again"
            " to continue (they count as already imported)"
        )


@contextmanager
def _progress() -> Iterator[_Tracker]:
    """A bar on stderr while events are applied, only when stderr is a terminal: pipes,
    logs and tests see the same output as without it."""
    if not sys.stderr.isatty():
        yield _Tracker(None)
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with bar:
        yield _Tracker(bar)


def run(args: argparse.Namespace) -> int:
    files: list[CsvFile] = []
    for path in (args.staff, args.allocations):
        try:
            files.append(CsvFile(str(path), path.read_bytes()))
        except OSError as exc:
            return _fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}")

    async def go(progress: _Tracker) -> ImportReport:
        services = bootstrap(settings())
        try:
            return await import_files(
                services.tx,
                args.org,
                files[0],
                files[1],
                skip_bad_rows=args.skip_bad_rows,
                at=services.now(),
                progress=progress,
            )
        finally:
            await services.close()

    try:
        with _progress() as progress:
            report = asyncio.run(go(progress))
    except KeyboardInterrupt:
        print(f"caseload-bot: {progress.resume_hint('interrupted')}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Busy:
        return _fail(progress.resume_hint("the database stayed busy"))
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
