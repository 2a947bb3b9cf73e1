"""`caseload-bot report` end to end on a SQLite file, through the console script."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import settings
from storage.db import connect
from storage.migrate import upgrade_database
from storage.repositories import Storage
from tests.reports.conftest import with_history

WEEK = ["report", "--org", "stoke", "--from", "2026-11-17", "--to", "2026-11-23"]


async def _seed(url: str) -> None:
    db = connect(url, 5000)
    try:
        await upgrade_database(db)
        await with_history(Storage(db))
    finally:
        await db.dispose()


@pytest.fixture
def council(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'report.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    settings.cache_clear()
    asyncio.run(_seed(url))
    yield tmp_path
    settings.cache_clear()


def test_markdown_and_csv_go_to_stdout(council: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(WEEK) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Caseload report: Stoke\n")
    assert "3 of 4 (75%) NQSWs within policy" in out
    assert main([*WEEK, "--team", "T-2", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("stoke,T-2,NQ-B,Bea Newman,2026-11-23,")


def test_png_and_html_are_written_to_out(council: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*WEEK, "--format", "png", "--out", "week.png"]) == 0
    assert (council / "week.png").read_bytes()[:4] == b"\x89PNG"
    assert main([*WEEK, "--format", "html", "--out", "week.html"]) == 0
    assert "Caseload report: Stoke" in (council / "week.html").read_text()
    assert "wrote week.html" in capsys.readouterr().err


def test_an_inspection_pack_is_a_folder_with_its_sums(
    council: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*WEEK, "--format", "pack", "--out", "pack"]) == 0
    pack = council / "pack"
    names = sorted(p.name for p in pack.iterdir())
    assert names == [
        "SHA256SUMS",
        "audit.csv",
        "charts.png",
        "checkpoint.txt",
        "nqsws.csv",
        "report.html",
        "summary.md",
        "teams.csv",
        "weeks.csv",
    ]
    lines = (pack / "SHA256SUMS").read_text().splitlines()
    sums = {name: digest for digest, name in (line.split("  ") for line in lines)}
    assert sums == {
        n: hashlib.sha256((pack / n).read_bytes()).hexdigest() for n in names if n != "SHA256SUMS"
    }
    # The period's audit rows: the world's history from Tuesday 17th on (the 18th's
    # resolution, the 20th's supervision, then everything seeded on the 23rd).
    audit = list(csv.DictReader(io.StringIO((pack / "audit.csv").read_text())))
    assert audit and all(row["at"] >= "2026-11-17" for row in audit)
    assert "breach_resolved" in {row["kind"] for row in audit}
    teams = list(csv.DictReader(io.StringIO((pack / "teams.csv").read_text())))
    assert [(t["team"], t["nqsws"], t["opened"]) for t in teams] == [
        ("T-1", "3", "2"),
        ("T-2", "1", "0"),
        ("total", "4", "2"),
    ]
    assert main(["audit", "verify", "--checkpoint", str(pack / "checkpoint.txt")]) == 0
    assert main([*WEEK, "--format", "pack", "--out", "pack"]) == 2
    assert "pack is not empty: a pack goes into a new folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["report", "--org", "nowhere"],
            "organisation 'nowhere' does not exist; create it with `caseload-bot org create`",
        ),
        ([*WEEK, "--team", "T-9"], "your organisation has no team T-9"),
        ([*WEEK, "--format", "png"], "--format png writes files: give --out PATH"),
        (
            ["report", "--org", "stoke", "--from", "2026-11-24", "--to", "2026-11-23"],
            "--from is after --to",
        ),
        (
            [*WEEK, "--equality", "--team", "T-1"],
            "--equality is for the whole organisation: leave out --team",
        ),
        (
            ["report", "--org", "dorset", "--equality"],
            "this organisation (dorset) does not record cohort attributes, so there is no"
            " equality view; an administrator can switch it on with `caseload-bot org equality`",
        ),
        (
            ["org", "equality", "--org", "stoke", "--attributes", "Ethnicity"],
            "attributes: 'Ethnicity' is not an attribute key: lower-case letters, digits and _,"
            " at most 32, starting with a letter (e.g. ethnicity, sex, route)",
        ),
    ],
)
def test_what_cannot_be_reported_is_one_line_and_exit_2(
    council: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"caseload-bot: {message}"


def test_the_weekly_report_day_is_set_or_switched_off(
    council: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["org", "report-day", "--org", "stoke", "--day", "friday"]) == 0
    assert "posted on Fridays from 09:00" in capsys.readouterr().err
    assert main(["org", "report-day", "--org", "stoke", "--day", "off"]) == 0
    assert "the weekly report of stoke is off" in capsys.readouterr().err
    assert main(["org", "report-day", "--org", "nowhere", "--day", "monday"]) == 2


def test_the_equality_view_in_each_format(
    council: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every group of the world is too small: each shows "fewer than 5" and no figure."""
    assert main([*WEEK, "--equality"]) == 0
    out = capsys.readouterr().out
    assert "## Equality view (for the principal social worker only)" in out
    assert "| White British | fewer than 5 | - | - | - | - | - |" in out
    assert main(WEEK) == 0
    assert "Equality" not in capsys.readouterr().out
    assert main([*WEEK, "--equality", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["attribute"], r["group"], r["nqsws"]) for r in rows] == [
        ("ethnicity", "White British", "fewer than 5"),
        ("ethnicity", "Black African", "fewer than 5"),
        ("ethnicity", "not recorded", "fewer than 5"),
        ("route", "Step Up", "fewer than 5"),
        ("route", "university", "fewer than 5"),
        ("route", "not recorded", "fewer than 5"),
    ]
    assert all(r["within_policy_share"] == "" for r in rows)
    assert main([*WEEK, "--equality", "--format", "pack", "--out", "pack"]) == 0
    assert (council / "pack" / "equality.csv").exists()
    assert "equality.csv" in (council / "pack" / "SHA256SUMS").read_text()
    assert "Equality view" in (council / "pack" / "report.html").read_text()


def test_the_equality_view_is_switched_and_off_erases_every_value(
    council: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["org", "equality", "--org", "stoke", "--attributes", "ethnicity, sex"]) == 0
    assert capsys.readouterr().err == (
        "the equality view of stoke is on, recording ethnicity, sex;"
        " 2 stored cohort values erased\n"
    )
    assert main(["org", "equality", "--org", "stoke", "--off"]) == 0
    assert capsys.readouterr().err == (
        "the equality view of stoke is off; 3 stored cohort values erased\n"
    )
    assert main(["report", "--org", "stoke", "--equality"]) == 2
    with pytest.raises(SystemExit) as usage:  # on or off: argparse asks for one
        main(["org", "equality", "--org", "stoke"])
    assert usage.value.code == 2
