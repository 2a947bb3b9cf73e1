"""The storage commands end to end on a SQLite file, through `caseload-bot`'s own parser."""

from __future__ import annotations

import json
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


def test_tokens_are_listed_without_the_token_and_revoked_at_once(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 0
    assert _run(["org", "create", "--id", "beta", "--policy", "policy.yaml"]) == 0
    assert _run(["token", "create", "--org", "acme", "--label", "mosaic"]) == 0
    assert _run(["token", "create", "--org", "acme", "--label", "reports"]) == 0
    assert _run(["token", "create", "--org", "beta", "--label", "theirs"]) == 0
    tokens = capsys.readouterr().out.split()
    assert _run(["token", "list", "--org", "acme"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["id", "label", "created", "last", "used", "revoked"]
    assert [line.split()[:2] for line in listed[1:]] == [["1", "mosaic"], ["2", "reports"]]
    assert all("never" in line for line in listed[1:])
    assert not any(t in "\n".join(listed) for t in tokens)

    assert _run(["token", "revoke", "--org", "acme", "--id", "2"]) == 0
    assert "token 2 of acme revoked" in capsys.readouterr().err
    assert _run(["token", "revoke", "--org", "acme", "--id", "3"]) == 2  # beta's, not acme's
    assert capsys.readouterr().err.strip() == "caseload-bot: organisation 'acme' has no token 3"
    assert _run(["token", "list", "--org", "acme"]) == 0
    revoked = capsys.readouterr().out.splitlines()[2]
    assert revoked.startswith("2") and revoked.rstrip().endswith("UTC")
    assert _run(["token", "revoke", "--org", "acme", "--id", "2"]) == 0  # again: no change
    with sqlite3.connect(env / "var" / "cli.sqlite3") as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM audit_log WHERE org_id = 'acme'")]
    assert kinds.count("token_revoked") == 1
    assert _run(["token", "list", "--org", "nobody"]) == 2


def test_org_secret_is_printed_once_and_audited_without_it(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 0
    capsys.readouterr()
    assert _run(["org", "secret", "--org", "acme"]) == 0
    first = capsys.readouterr()
    assert first.out.startswith("whsec_") and "not CASE_EVENTS_SECRET" in first.err
    assert _run(["org", "secret", "--org", "acme"]) == 0
    second = capsys.readouterr()
    assert second.out != first.out and "stays valid until" in second.err
    with sqlite3.connect(env / "var" / "cli.sqlite3") as conn:
        rows = [d for (d,) in conn.execute("SELECT data FROM audit_log WHERE org_id = 'acme'")]
    assert len(rows) == 3 and first.out.strip() not in "".join(rows)
    assert _run(["org", "secret", "--org", "nobody"]) == 2


def test_checkpoints_catch_rows_removed_with_the_head_rewound(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 0
    assert _run(["org", "create", "--id", "beta", "--policy", "policy.yaml"]) == 0
    assert _run(["token", "create", "--org", "acme"]) == 0
    capsys.readouterr()
    assert _run(["audit", "checkpoint", "--org", "acme"]) == 0
    assert _run(["audit", "checkpoint", "--org", "beta"]) == 0
    lines = capsys.readouterr().out.splitlines()
    point = json.loads(lines[0])
    assert set(point) == {"org", "seq", "hash", "at"} and (point["org"], point["seq"]) == (
        "acme",
        2,
    )
    kept = env / "checkpoints.jsonl"
    kept.write_text("\n".join(lines) + "\n")
    assert _run(["audit", "verify", "--checkpoint", str(kept)]) == 0
    assert "holds all 2 checkpoints" in capsys.readouterr().err

    with sqlite3.connect(env / "var" / "cli.sqlite3") as conn:
        (first_hash,) = conn.execute(
            "SELECT hash FROM audit_log WHERE org_id = 'acme' AND seq = 1"
        ).fetchone()
        conn.execute("DELETE FROM audit_log WHERE org_id = 'acme' AND seq = 2")
        conn.execute(
            "UPDATE audit_heads SET seq = 1, hash = ? WHERE org_id = 'acme'", (first_hash,)
        )
        conn.execute("UPDATE audit_log SET actor = 'x' WHERE org_id = 'beta'")
    assert _run(["audit", "verify"]) == 1  # beta's alteration; acme's cut looks intact
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "'beta' is broken at row 1" in err[0]
    assert _run(["audit", "verify", "--checkpoint", str(kept)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2  # every organisation is reported, with the checkpoint acme lost
    assert "'acme' is broken at row 2" in err[0] and "checkpoint" in err[0]
    assert "'beta' is broken at row 1" in err[1] and "altered" in err[1]


def test_a_bad_checkpoint_file_is_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kept = env / "checkpoints.jsonl"
    kept.write_text(
        '{"org": "acme", "seq": 1, "hash": "ab", "at": "2025-01-01T00:00:00Z"}\n{"org": 1}\n'
    )
    assert _run(["audit", "verify", "--checkpoint", str(kept)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"caseload-bot: {kept}:2: ") and len(err.splitlines()) == 1
    assert _run(["audit", "verify", "--checkpoint", str(env / "missing.jsonl")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_export_to_the_last_day_of_the_calendar(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["org", "create", "--id", "acme", "--policy", "policy.yaml"]) == 0
    args = ["audit", "export", "--org", "acme", "--from", "0001-01-01", "--to", "9999-12-31"]
    assert _run(args) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
