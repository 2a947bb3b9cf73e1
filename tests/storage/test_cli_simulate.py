"""`caseload-bot policy simulate` end to end, on a SQLite file and on PostgreSQL: an
organisation on stoke-childrens built from case events as the webhook receives them, judged
under Dorset's preset and under a draft of Stoke's own policy with a lower cap. Every
expectation below is worked by hand from the two policies; the database is compared row by
row before and after, to show that a simulation writes nothing.

On Monday 23 November 2026 (allocations from 2 November), team T-1 holds:

| NQSW | ASYE from | reviews passed | holds (as lead unless said) | under stoke-childrens 2024.09 |
| --- | --- | --- | --- | --- |
| NQ-4 | 2026-08-10 (month 3.43) | 3 | CIN 5 + 7 children = 12 | nothing |
| NQ-13 | 2026-05-04 (month 6.63) | 3, 6 | CIN 6 + 7 = 13 | nothing |
| NQ-9 | 2026-02-02 (month 9.7) | 3, 6 | CP 2, CIN 3 = 5 | CP lead before the 9-month review |
| NQ-11 | 2025-12-29 (month 10.81) | 3, 6, 9 | CIN 9 + 8 = 17 | 17 children against a cap of 16 |
| NQ-C | 2026-05-04 | 3, 6 + Complex Working Agreement | CP 1 | nothing (review 6 and the agreement) |
| NQ-I | 2026-05-04 | 3, 6 | interim care order 1 | nothing |
| NQ-B | 2026-05-04, 3 weeks' leave | 3 | CIN 2 as co-worker | nothing |

NQ-0 holds the NQSW role with no ASYE record (not judged); SW-1, not an NQSW, holds child
protection (not judged).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.cli import main
from bot.services import bootstrap
from bot.settings import settings
from handlers.case_events import apply_event
from handlers.events import parse_event
from storage.db import connect
from storage.models import Base
from storage.repositories import Storage
from tests.conftest import BACKENDS, PG_URL

SEEDED = dt.datetime(2026, 11, 23, 4, 0, tzinfo=dt.UTC)
ON = "2026-11-23"
DORSET_CAP = "3.2 (11-14 children maximum); 4.3 (90% load only after a successful 6-month review)"
STOKE_CAP = (
    "Content of the Programme (e); Roles and Responsibilities (the NQSW's Manager); "
    "Quality Assurance"
)
DORSET_CO_WORK = "3.4, 3.5; 3.6 (supervision orders as child protection)"
STOKE_CP_LEAD = (
    "Phased Increase of Complex Working > Child Protection, first bullet and its "
    "sub-bullets; Holistic Assessment Process > Assessment"
)

LOWER_CAP = """\
extends: stoke-childrens
id: stoke-draft
version: "2025.01-draft"
caps:
  children:
    summary: "At most 12 allocated children."
    phases: [{max: 12}]
"""
TYPO = """\
extends: stoke-childrens
id: stoke-draft
version: "2025.01-draft"
caps:
  children:
    phases: [{maximum: 12}]
"""


def _event(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "occurred_at": SEEDED.isoformat(), "org": "stoke", "data": data}


def _worker(ref: str, name: str, role: str, asye: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"ref": ref, "name": name, "roles": [role], "team_ref": "T-1"}
    if asye is not None:
        data["asye"] = {"start": asye}
    return _event("worker.upserted", data)


def _reviews(ref: str, *dates: str) -> list[dict[str, Any]]:
    return [
        _event(
            "worker.review_recorded",
            {"worker_ref": ref, "month": month, "passed": True, "on": on},
        )
        for month, on in zip((3, 6, 9), dates, strict=False)
    ]


def _holds(ref: str, nqsw: str, work_type: str, children: int, role: str = "lead") -> list[Any]:
    return [
        _event("case.upserted", {"ref": ref, "work_type": work_type, "children": children}),
        _event(
            "allocation.started",
            {"case_ref": ref, "worker_ref": nqsw, "role": role, "from": "2026-11-02"},
        ),
    ]


def events() -> list[dict[str, Any]]:
    return [
        _event("team.upserted", {"ref": "T-1", "name": "Assessment Team 1", "kind": "assessment"}),
        _worker("TM-1", "Tara Manager", "team_manager"),
        _worker("SW-1", "Sol Worker", "social_worker"),
        _worker("NQ-0", "Noor Zero", "nqsw"),
        _worker("NQ-4", "Nia Four", "nqsw", "2026-08-10"),
        _worker("NQ-13", "Tess Thirteen", "nqsw", "2026-05-04"),
        _worker("NQ-9", "Nat Nine", "nqsw", "2026-02-02"),
        _worker("NQ-11", "Lee Eleven", "nqsw", "2025-12-29"),
        _worker("NQ-C", "Cam Agreement", "nqsw", "2026-05-04"),
        _worker("NQ-I", "Ira Interim", "nqsw", "2026-05-04"),
        _worker("NQ-B", "Bea Newman", "nqsw", "2026-05-04"),
        _event(
            "worker.leave_recorded",
            {"worker_ref": "NQ-B", "from": "2026-06-01", "to": "2026-06-21", "reason": "sickness"},
        ),
        *_reviews("NQ-4", "2026-11-10"),
        *_reviews("NQ-13", "2026-08-04", "2026-11-04"),
        *_reviews("NQ-9", "2026-05-04", "2026-08-03"),
        *_reviews("NQ-11", "2026-03-30", "2026-06-29", "2026-09-29"),
        *_reviews("NQ-C", "2026-08-04", "2026-11-04"),
        *_reviews("NQ-I", "2026-08-04", "2026-11-04"),
        *_reviews("NQ-B", "2026-08-25"),
        _event(
            "worker.agreement_recorded",
            {"worker_ref": "NQ-C", "agreement": "complex_working_agreement", "on": "2026-11-05"},
        ),
        *_holds("C-CIN-1", "NQ-4", "child_in_need", 5),
        *_holds("C-CIN-2", "NQ-4", "child_in_need", 7),
        *_holds("C-CIN-3", "NQ-13", "child_in_need", 6),
        *_holds("C-CIN-4", "NQ-13", "child_in_need", 7),
        *_holds("C-CP-1", "NQ-9", "child_protection", 2),
        *_holds("C-CIN-5", "NQ-9", "child_in_need", 3),
        *_holds("C-BIG-1", "NQ-11", "child_in_need", 9),
        *_holds("C-BIG-2", "NQ-11", "child_in_need", 8),
        *_holds("C-CP-2", "NQ-C", "child_protection", 1),
        *_holds("C-ICO-1", "NQ-I", "interim_care_order", 1),
        *_holds("C-CIN-6", "NQ-B", "child_in_need", 2, role="co_work"),
        *_holds("C-SW-1", "SW-1", "child_protection", 3),
    ]


async def _send(bodies: list[dict[str, Any]]) -> None:
    services = bootstrap(settings())
    try:
        for n, body in enumerate(bodies):
            await apply_event(services.tx, f"seed-{n}", parse_event(json.dumps(body)), SEEDED)
    finally:
        await services.close()


@contextmanager
def _database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, or a PostgreSQL database of its own (the CLI takes only a URL)."""
    if backend == "sqlite":
        yield "sqlite+aiosqlite:///var/simulate.sqlite3"
        return
    assert PG_URL is not None
    name = f"sim_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        db = connect(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await db.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def council(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The organisation `stoke` and its NQSWs; yields the database URL."""
    monkeypatch.chdir(tmp_path)
    with _database_url(request.param, tmp_path) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        settings.cache_clear()
        assert main(["db", "upgrade"]) == 0
        assert main(["org", "create", "--id", "stoke", "--policy", "stoke-childrens"]) == 0
        asyncio.run(_send(events()))
        (tmp_path / "lower-cap.yaml").write_text(LOWER_CAP)
        (tmp_path / "typo.yaml").write_text(TYPO)
        yield url
    settings.cache_clear()


def snapshot(url: str) -> dict[str, Any]:
    """Every table's rows (sorted, as text) and each organisation's audit head."""

    async def read() -> dict[str, Any]:
        db = connect(url)
        try:
            out: dict[str, Any] = {}
            async with db.engine.connect() as conn:
                for table in Base.metadata.sorted_tables:
                    rows = (await conn.execute(select(table))).all()
                    count = (await conn.execute(select(func.count()).select_from(table))).scalar()
                    out[table.name] = (count, sorted(repr(tuple(r)) for r in rows))
            async with Storage(db).read() as uow:
                out["audit head"] = await uow.audit.head("stoke")
            return out
        finally:
            await db.dispose()

    return asyncio.run(read())


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["policy", "simulate", "--org", "stoke", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_fixture_and_the_snapshot(council: str) -> None:
    before = snapshot(council)
    breaches = before["breaches"][1]
    # What stoke-childrens itself opened as the events arrived: NQ-9's CP lead and NQ-11's cap.
    assert len([b for b in breaches if "'open'" in b]) == 2
    # The snapshot sees a write of one audit row: so its equality below means something.
    assert main(["token", "create", "--org", "stoke"]) == 0
    after = snapshot(council)
    assert after["audit head"] != before["audit head"]
    assert after["audit_log"][0] == before["audit_log"][0] + 1


def test_under_dorset(council: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(council)
    code, out, err = simulate(capsys, "--policy", "dorset-childrens", "--on", ON)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Under dorset-childrens v2023.05: 2 NQSWs would move into breach, 1 out of breach, "
        "1 would stay in breach differently, 2 unchanged, 1 could not be judged "
        "(stoke on 2026-11-23, against stoke-childrens v2024.09 in force)",
        # Dorset: lead from 9 months of practice whatever the agreements; it names none, so
        # Stoke's Complex Working Agreement counts for nothing.
        "NQ-C (Cam Agreement), month 6.63, 1 child (cap 16 → 14): into breach: "
        f"dorset.cp.co-work-six-to-nine-months [{DORSET_CO_WORK}]: "
        "C-CP-2 (Child protection) held as lead; "
        "not in the proposed policy, so set aside: agreement complex_working_agreement",
        # Dorset: 11 children until a successful six-month review; NQ-4 has passed the third.
        "NQ-4 (Nia Four), month 3.43, 12 children (cap 16 → 11): into breach: "
        f"dorset.cap.children [{DORSET_CAP}]: 12 children against a cap of 11",
        # Stoke wants the nine-month review for a CP lead; Dorset 9 months of practice.
        "NQ-9 (Nat Nine), month 9.7, 5 children (cap 16 → 14): out of breach: "
        f"stoke.cp.lead-from-nine-months [{STOKE_CP_LEAD}]: no longer: "
        "C-CP-1 (Child protection) held as lead",
        # Over Stoke's 16 and over Dorset's 14 (after the six-month review).
        "NQ-11 (Lee Eleven), month 10.81, 17 children (cap 16 → 14): in breach differently: "
        f"dorset.cap.children [{DORSET_CAP}]: 17 children against a cap of 14; "
        f"stoke.cap.sixteen-children [{STOKE_CAP}]: no longer: 17 children against a cap of 16",
        # Dorset has no interim care orders: no guess is made.
        "NQ-I (Ira Interim), month 6.63, 1 child (cap 16): could not be judged: "
        "dorset-childrens has no work type interim_care_order (case C-ICO-1)",
    ]
    # NQ-13 (13 children, cap 14 after the six-month review) and NQ-B (co-work only) stay.
    assert snapshot(council) == before


def test_under_a_draft_with_a_lower_cap(council: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(council)
    code, out, err = simulate(capsys, "--policy", "lower-cap.yaml", "--on", ON)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Under stoke-draft v2025.01-draft: 1 NQSW would move into breach, 0 out of breach, "
        "1 would stay in breach differently, 5 unchanged "
        "(stoke on 2026-11-23, against stoke-childrens v2024.09 in force)",
        # 13 > 12; NQ-4's 12 is exactly the new cap, so NQ-4 stays out of breach.
        "NQ-13 (Tess Thirteen), month 6.63, 13 children (cap 16 → 12): into breach: "
        f"stoke.cap.sixteen-children [{STOKE_CAP}]: 13 children against a cap of 12",
        "NQ-11 (Lee Eleven), month 10.81, 17 children (cap 16 → 12): in breach differently: "
        f"stoke.cap.sixteen-children [{STOKE_CAP}]: 17 children against a cap of 12 "
        "(was: 17 children against a cap of 16)",
    ]
    # NQ-9's CP lead breaks the draft exactly as it breaks the policy in force: unchanged.
    capsys.readouterr()
    assert main(["policy", "simulate", "--org", "stoke", "--policy", "lower-cap.yaml"]) == 0
    assert capsys.readouterr().out.startswith("Under stoke-draft v2025.01-draft: ")  # today
    assert snapshot(council) == before


def test_json_for_machines(council: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(council)
    code, out, _ = simulate(capsys, "--policy", "dorset-childrens", "--on", ON, "--format", "json")
    assert code == 0
    answer = json.loads(out)
    assert answer["current"] == {"id": "stoke-childrens", "version": "2024.09"}
    assert answer["proposed"] == {"id": "dorset-childrens", "version": "2023.05"}
    assert answer["counts"] == {
        "into_breach": 2,
        "out_of_breach": 1,
        "changed": 1,
        "unchanged": 2,
        "undecided": 1,
    }
    by_ref = {n["ref"]: n for n in answer["nqsws"]}
    assert {ref: n["movement"] for ref, n in by_ref.items()} == {
        "NQ-4": "into_breach",
        "NQ-C": "into_breach",
        "NQ-9": "out_of_breach",
        "NQ-11": "changed",
        "NQ-I": "undecided",
        "NQ-13": "unchanged",
        "NQ-B": "unchanged",
    }
    nq4 = by_ref["NQ-4"]
    assert nq4["name"] == "Nia Four"
    assert (nq4["current"]["month_of_practice"], nq4["proposed"]["month_of_practice"]) == (
        3.43,
        3.43,
    )
    assert nq4["current"]["caseload"]["children_cap"] == 16
    assert nq4["proposed"]["caseload"]["children"] == 12
    assert nq4["proposed"]["caseload"]["children_cap"] == 11
    assert [(b["rule"], b["case_ids"]) for b in nq4["opened"]] == [
        ("dorset.cap.children", ["C-CIN-1", "C-CIN-2"])
    ]
    assert nq4["closed"] == []
    assert [b["rule"] for b in by_ref["NQ-9"]["closed"]] == ["stoke.cp.lead-from-nine-months"]
    assert by_ref["NQ-C"]["proposed"]["set_aside"] == ["agreement complex_working_agreement"]
    assert by_ref["NQ-I"]["proposed"] == {
        "undecided": "dorset-childrens has no work type interim_care_order (case C-ICO-1)"
    }
    # NQ-B's three weeks of leave stopped the clock under both policies.
    assert by_ref["NQ-B"]["current"]["month_of_practice"] == 5.94
    assert snapshot(council) == before


def test_markdown_table(council: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = simulate(capsys, "--policy", "lower-cap.yaml", "--on", ON, "--format", "md")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("**Under stoke-draft v2025.01-draft: 1 NQSW would move into")
    assert lines[2:4] == [
        "| NQSW | Month, caseload | Change | Rule | Clause | Why |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    assert lines[4] == (
        "| NQ-13 (Tess Thirteen) | month 6.63, 13 children (cap 16 → 12) | into breach | "
        f"stoke.cap.sixteen-children | {STOKE_CAP} | 13 children against a cap of 12 |"
    )
    assert len(lines) == 6 and lines[5].startswith("| NQ-11 (Lee Eleven) |")


def test_before_anything_is_held_nobody_moves(
    council: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = simulate(capsys, "--policy", "dorset-childrens", "--on", "2026-10-30")
    assert code == 0
    assert out.splitlines() == [
        "Under dorset-childrens v2023.05: 0 NQSWs would move into breach, 0 out of breach, "
        "7 unchanged (stoke on 2026-10-30, against stoke-childrens v2024.09 in force)"
    ]


def test_a_policy_with_a_typo_is_refused_as_lint_refuses_it(
    council: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(council)
    capsys.readouterr()
    assert main(["policy", "lint", "typo.yaml"]) == 2
    linted = capsys.readouterr().err
    assert linted == (
        "typo.yaml:6: caps.children.phases[0].maximum: unknown key "
        "(check its spelling against the policy file reference in the README)\n"
    )
    assert simulate(capsys, "--policy", "typo.yaml", "--on", ON) == (2, "", linted)
    code, out, err = simulate(capsys, "--policy", "nosuch.yaml")
    assert (code, out) == (2, "")
    assert err.startswith("policy: 'nosuch.yaml' is not a preset or a policy file; presets are:")
    assert snapshot(council) == before


def test_a_typo_is_refused_before_the_database_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "typo.yaml").write_text(TYPO)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///nowhere/at/all.sqlite3")
    settings.cache_clear()
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    try:
        code, _, err = simulate(capsys, "--policy", "typo.yaml")
        assert simulate(capsys, "--policy", "binary.yaml") == (
            2,
            "",
            "binary.yaml:1: is not UTF-8 text (byte 0xff on this line): save it as UTF-8\n",
        )
    finally:
        settings.cache_clear()
    assert code == 2 and err.startswith("typo.yaml:6: ")
    assert not (tmp_path / "nowhere").exists()


def test_an_unknown_organisation_is_one_line(
    council: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(council)
    capsys.readouterr()
    args = ["policy", "simulate", "--policy", "dorset-childrens", "--on", ON]
    for org in ("nowhere", "Not An Org!"):
        assert main([*args, "--org", org]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (
            f"caseload-bot: organisation {org!r} does not exist; "
            "create it with `caseload-bot org create`\n"
        )
    assert snapshot(council) == before
