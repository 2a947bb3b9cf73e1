"""`caseload-bot escalations run --now` stepped day by day through a quarter, on a SQLite
file: a ladder in working days fires on the right days over Christmas and New Year (England
and Wales bank holidays: Fri 25 and Mon 28 Dec 2026, Fri 1 Jan 2027) and stops when the
breach is resolved."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.services import bootstrap
from bot.settings import settings
from handlers.case_events import apply_event
from handlers.events import parse_event

LADDER = """\
extends: stoke-childrens
id: stoke-working-days
version: "t1"
escalation:
  summary: "A test ladder in working days."
  ladder:
    - {step: 1, wait: {working_days: 0}, notify: [team_manager], clause: "Step 1"}
    - {step: 2, wait: {working_days: 5}, notify: [service_manager], clause: "Step 2"}
    - {step: 3, wait: {working_days: 15}, notify: [head_of_service], clause: "Step 3"}
"""
OPENED = dt.datetime(2026, 12, 18, 10, 0, tzinfo=dt.UTC)
"""Friday 18 December 2026, 10:00 in London: the breach opens."""
STEP_2 = dt.date(2026, 12, 29)
"""5 working days: Mon 21, Tue 22, Wed 23, Thu 24, (Fri 25, Mon 28 bank holidays) Tue 29."""
STEP_3 = dt.date(2027, 1, 13)
"""15 working days: … Thu 31 Dec (7), (Fri 1 Jan) Mon 4 Jan (8) … Wed 13 Jan (15)."""


@pytest.fixture
def council(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///var/travel.sqlite3")
    settings.cache_clear()
    assert main(["db", "upgrade"]) == 0
    (tmp_path / "ladder.yaml").write_text(LADDER)
    assert main(["org", "create", "--id", "acme", "--policy", "ladder.yaml"]) == 0
    asyncio.run(_send(_world(), OPENED))
    yield tmp_path
    settings.cache_clear()


def _event(type_: str, data: dict[str, object]) -> dict[str, object]:
    return {"type": type_, "occurred_at": OPENED.isoformat(), "org": "acme", "data": data}


def _world() -> list[dict[str, object]]:
    def worker(ref: str, role: str, **more: object) -> dict[str, object]:
        return _event(
            "worker.upserted", {"ref": ref, "name": ref, "roles": [role], "team_ref": "T-1", **more}
        )

    return [
        _event("team.upserted", {"ref": "T-1", "name": "Team 1", "kind": "assessment"}),
        worker("TM-1", "team_manager"),
        worker("SM-1", "service_manager"),
        worker("HS-1", "head_of_service"),
        worker("NQ-1", "nqsw", asye={"start": "2026-10-01"}),
        _event("case.upserted", {"ref": "C-CP-1", "work_type": "child_protection", "children": 1}),
        _event("allocation.started", {"case_ref": "C-CP-1", "worker_ref": "NQ-1", "role": "lead"}),
    ]


async def _send(events: list[dict[str, object]], at: dt.datetime) -> None:
    services = bootstrap(settings())
    try:
        for n, body in enumerate(events):
            await apply_event(
                services.tx, f"{at.isoformat()}-{n}", parse_event(json.dumps(body)), at
            )
    finally:
        await services.close()


def _step_days(
    first: dt.date, last: dt.date, capsys: pytest.CaptureFixture[str]
) -> dict[dt.date, int]:
    """Each day at noon, the ladder as `escalations run` fires it: day → steps fired."""
    fired: dict[dt.date, int] = {}
    day = first
    while day <= last:
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        assert main(["escalations", "run", "--now", noon.isoformat()]) == 0
        out = capsys.readouterr().out
        found = re.search(r"(\d+) escalation step\(s\) fired", out)
        assert found is not None, out
        if int(found.group(1)):
            fired[day] = int(found.group(1))
        day += dt.timedelta(days=1)
    return fired


def test_the_ladder_fires_on_working_days_through_a_quarter(
    council: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fired = _step_days(OPENED.date(), OPENED.date() + dt.timedelta(days=91), capsys)
    # C-CP-1 breaks two of Stoke's rules (none before the six-month review; lead from nine
    # months): two breaches, each climbing its own ladder.
    assert fired == {STEP_2: 2, STEP_3: 2}


def test_a_step_fires_no_earlier_than_it_falls_due(
    council: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Step 2 is due Tue 29 Dec at 10:00: not at 09:59, and at 10:00.
    for at, expected in (("2026-12-29T09:59:00+00:00", 0), ("2026-12-29T10:00:00+00:00", 2)):
        assert main(["escalations", "run", "--now", at]) == 0
        assert f" {expected} escalation step(s) fired" in capsys.readouterr().out


def test_resolution_stops_the_ladder(council: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _step_days(OPENED.date(), dt.date(2027, 1, 4), capsys)
    assert before == {STEP_2: 2}
    ended = _event("allocation.ended", {"case_ref": "C-CP-1", "worker_ref": "NQ-1"})
    asyncio.run(_send([ended], dt.datetime(2027, 1, 5, 11, 0, tzinfo=dt.UTC)))
    after = _step_days(dt.date(2027, 1, 5), dt.date(2027, 2, 5), capsys)
    assert after == {}


def test_a_time_without_a_zone_is_refused(
    council: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["escalations", "run", "--now", "2026-12-29T10:00:00"])
    assert exit_.value.code == 2
    assert "has no time zone" in capsys.readouterr().err
