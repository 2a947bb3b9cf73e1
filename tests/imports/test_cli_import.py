"""`caseload-bot import` end to end on a SQLite file, through the console script's parser."""

from __future__ import annotations

import dataclasses
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli_import
from bot.cli import main
from bot.cli_import import EXIT_INTERRUPTED, EXIT_SKIPPED
from bot.services import Services, bootstrap
from bot.settings import Settings, settings
from handlers import imports
from tests.conftest import TINY_POLICY
from tests.fakes import BusyAfter
from tests.imports.helpers import (
    ALLOCATIONS,
    STAFF,
    InterruptedAfter,
    allocations_file,
    staff_file,
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///var/cli.sqlite3")
    settings.cache_clear()
    assert main(["db", "upgrade"]) == 0
    (tmp_path / "policy.yaml").write_text(TINY_POLICY)
    assert main(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 0
    (tmp_path / "staff.csv").write_bytes(staff_file().data)
    (tmp_path / "allocations.csv").write_bytes(allocations_file().data)
    yield tmp_path
    settings.cache_clear()


IMPORT = ["import", "--org", "acme", "staff.csv", "allocations.csv"]


def test_import_prints_a_summary_and_a_rerun_is_a_no_op(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(IMPORT) == 0
    out, err = capsys.readouterr()
    assert err == "", "no progress bar when stderr is not a terminal"
    assert "rows read: 6 (bad, skipped: 0)" in out
    assert "events: 9; applied: 9; unchanged: 0; already imported: 0" in out
    assert "breaches opened: 1; resolved: 0" in out
    assert main(IMPORT) == 0
    assert "applied: 0; unchanged: 0; already imported: 9" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0


def test_bad_rows_are_listed_and_nothing_is_imported(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{**ALLOCATIONS[0], "children": "lots"}, *ALLOCATIONS[1:]]
    (env / "allocations.csv").write_bytes(allocations_file(rows).data)
    capsys.readouterr()
    assert main(IMPORT) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "allocations.csv:2: children: 'lots' is not a whole number",
        "caseload-bot: nothing was imported: 1 row is bad (fix them, or use --skip-bad-rows)",
    ]
    # Nothing was written: the good files import every event afresh.
    (env / "allocations.csv").write_bytes(allocations_file().data)
    assert main(IMPORT) == 0
    assert "events: 9; applied: 9" in capsys.readouterr().out


def test_skip_bad_rows_exits_with_its_own_code(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staff = [*STAFF, {**STAFF[2], "ref": "SW-2", "roles": "wizard"}]
    (env / "staff.csv").write_bytes(staff_file(staff).data)
    capsys.readouterr()
    assert main([*IMPORT[:3], "--skip-bad-rows", *IMPORT[3:]]) == EXIT_SKIPPED == 3
    captured = capsys.readouterr()
    assert captured.err.startswith("staff.csv:5: roles: 'wizard' is not allowed; 'nqsw'")
    assert "rows read: 7 (bad, skipped: 1)" in captured.out
    assert "events: 9; applied: 9" in captured.out


def test_a_child_name_column_is_refused_even_when_skipping(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "allocations.csv").write_text(
        "case_ref,work_type,children,worker_ref,role,child_name\n"
        "C-1,child_in_need,1,NQ-1,lead,Jo Bloggs\n"
    )
    capsys.readouterr()
    assert main([*IMPORT[:3], "--skip-bad-rows", *IMPORT[3:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("allocations.csv:1: child_name: is not a column of this file")
    assert "keeps no names of children" in err and "Bloggs" not in err
    assert err.splitlines()[-1] == (
        "caseload-bot: nothing was imported: a file is not in the expected form"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["import", "--org", "nobody", "staff.csv", "allocations.csv"],
            "caseload-bot: organisation 'nobody' does not exist; create it with `caseload-bot org create`",
        ),
        (
            ["import", "--org", "acme", "staff.csv", "missing.csv"],
            "caseload-bot: cannot read missing.csv: No such file or directory",
        ),
        (
            ["import", "--org", "acme", "staff.csv", "var"],
            "caseload-bot: cannot read var: Is a directory",
        ),
    ],
)
def test_other_failures_are_one_line_and_exit_2(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [message]


def test_an_unmigrated_database_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///var/empty.sqlite3")
    settings.cache_clear()
    capsys.readouterr()
    assert main(IMPORT) == 2
    err = capsys.readouterr().err
    assert err.startswith("caseload-bot: the database is not set up (OperationalError)")
    assert "Traceback" not in err and len(err.splitlines()) == 1


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_a_progress_bar_on_stderr(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(IMPORT) == 0
    assert "importing" in terminal.getvalue() and "9/9" in terminal.getvalue()
    assert "events: 9; applied: 9" in capsys.readouterr().out


MANY = [
    *ALLOCATIONS,
    *(
        {
            "case_ref": f"C-{n}",
            "work_type": "child_in_need",
            "children": "1",
            "worker_ref": "SW-1",
            "role": "lead",
        }
        for n in range(100, 400)
    ),
]
"""609 events: a team, 3 workers, 302 cases, 303 allocations."""


@pytest.mark.parametrize(
    ("stop", "code", "what"),
    [
        (BusyAfter, 2, "the database stayed busy"),
        (InterruptedAfter, EXIT_INTERRUPTED, "interrupted"),
    ],
)
def test_an_interrupted_import_says_how_to_resume_and_running_it_again_continues(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stop: type[BusyAfter],
    code: int,
    what: str,
) -> None:
    """Stopped after three transactions, in chunks of 100; how many events those held is
    `apply_group`'s business, and what was reported is what the second run skips."""
    (env / "allocations.csv").write_bytes(allocations_file(MANY).data)
    monkeypatch.setattr(imports, "CHUNK_EVENTS", 100)

    def stopping(config: Settings) -> Services:
        services = bootstrap(config)
        return dataclasses.replace(services, tx=stop(services.tx, 3))

    monkeypatch.setattr(cli_import, "bootstrap", stopping)
    capsys.readouterr()
    assert main(IMPORT) == code
    out, err = capsys.readouterr()
    assert out == ""
    said = re.fullmatch(
        f"caseload-bot: {what} after ([0-9,]+) of 609 events; the events applied stay"
        " applied: run the same command again to continue \\(they count as already"
        " imported\\)\n",
        err,
    )
    assert said is not None, err
    done = int(said.group(1).replace(",", ""))
    monkeypatch.setattr(cli_import, "bootstrap", bootstrap)
    assert main(IMPORT) == 0
    summary = re.search(
        r"events: 609; applied: (\d+); unchanged: 0; already imported: (\d+)",
        capsys.readouterr().out,
    )
    assert summary is not None
    applied, skipped = map(int, summary.groups())
    assert 0 < skipped < 609 and applied == 609 - skipped
    assert skipped == done if stop is BusyAfter else skipped >= done
    assert main(["audit", "verify"]) == 0
