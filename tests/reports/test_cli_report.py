"""`caseload-bot report` end to end on a SQLite file, through the console script."""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["report", "--org", "nowhere"],
            "organisation 'nowhere' does not exist; create it with `caseload-bot org create`",
        ),
        ([*WEEK, "--team", "T-9"], "your organisation has no team T-9"),
        ([*WEEK, "--format", "png"], "--format png writes an image: give --out PATH"),
        (
            ["report", "--org", "stoke", "--from", "2026-11-24", "--to", "2026-11-23"],
            "--from is after --to",
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
