"""The storage commands end to end on a SQLite file, through `caseload-bot`'s own parser."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import settings
from tests.conftest import TINY_POLICY


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///var/cli.sqlite3")
    settings.cache_clear()
    assert main(["db", "upgrade"]) == 0
    (tmp_path / "policy.yaml").write_text(TINY_POLICY)
    yield tmp_path
    settings.cache_clear()


def _run(argv: list[str]) -> int:
    """`main` runs its own event loop, so these tests are synchronous."""
    return main(argv)


def test_default_location_and_org_creation(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (env / "var" / "cli.sqlite3").is_file()
    assert _run(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 0
    assert _run(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "caseload-bot: organisation 'acme' already exists"
    assert _run(["org", "create", "--id", "beta", "--policy", "missing.yaml"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_token_is_printed_once_and_only_its_hash_stored(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 0
    assert _run(["token", "create", "--org", "acme", "--label", "mosaic"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("clb_")
    raw = (env / "var" / "cli.sqlite3").read_bytes()
    assert token.encode() not in raw
    assert _run(["token", "create", "--org", "nobody"]) == 2


def test_audit_verify_and_export(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 0
    assert _run(["token", "create", "--org", "acme"]) == 0
    assert _run(["audit", "verify"]) == 0
    out = env / "audit.csv"
    args = ["audit", "export", "--org", "acme", "--from", "2000-01-01", "--to", "2999-12-31"]
    assert _run([*args, "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert len(rows) == 3 and rows[1].split(",")[2] == "organisation_created"
    with sqlite3.connect(env / "var" / "cli.sqlite3") as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone' WHERE seq = 2")
    capsys.readouterr()
    assert _run(["audit", "verify"]) == 1
    assert "'acme' is broken at row 2" in capsys.readouterr().err
