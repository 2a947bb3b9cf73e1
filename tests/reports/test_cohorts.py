"""Cohort values and the equality view's switch, on the fakes and on every database: what
`worker.upserted` stores, what switching off or narrowing erases, what is audited, and
which reports carry the view."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from handlers import admin
from handlers.case_events import apply_event
from handlers.events import parse_event
from handlers.ports import Transactions
from handlers.reports.caseload_report import caseload_report
from handlers.reports.equality import NOT_RECORDED
from policy import InputError
from tests.chat.world import COHORTS, DORSET, NOW, STOKE, events
from tests.reports.test_figures import WEEK


def _nq7(minutes: int, cohort: dict[str, Any] | None, name: str = "Sam Seven") -> Any:
    (upsert,) = [
        e for e in events() if e["type"] == "worker.upserted" and e["data"]["ref"] == "NQ-7"
    ]
    data = {k: v for k, v in upsert["data"].items() if k != "cohort"}
    data["name"] = name
    if cohort is not None:
        data["cohort"] = cohort
    at = NOW + dt.timedelta(minutes=minutes)
    return parse_event(json.dumps({**upsert, "occurred_at": at.isoformat(), "data": data}))


async def _values(tx: Transactions, org: str = STOKE) -> dict[str, dict[str, str]]:
    async with tx.read() as uow:
        return await uow.cohorts.of_org(org)


async def test_values_arrive_with_worker_upserted(council: Transactions) -> None:
    assert await _values(council) == COHORTS
    assert await _values(council, DORSET) == {}
    # Omitted: unchanged. Null: removed. Another value: replaced.
    await apply_event(council, "c-1", _nq7(1, None, "Sam Seven-Jones"), at=NOW)
    assert (await _values(council))["NQ-7"] == COHORTS["NQ-7"]
    await apply_event(council, "c-2", _nq7(2, {"route": None, "ethnicity": "Mixed"}), at=NOW)
    assert (await _values(council))["NQ-7"] == {"ethnicity": "Mixed"}
    # An older event arriving late changes neither value, nor brings the removed one back.
    late = {"route": "university", "ethnicity": "White British"}
    await apply_event(council, "c-3", _nq7(-30, late), at=NOW)
    assert (await _values(council))["NQ-7"] == {"ethnicity": "Mixed"}


async def test_an_attribute_not_recorded_refuses_the_whole_event(council: Transactions) -> None:
    with pytest.raises(InputError) as refused:
        await apply_event(council, "c-1", _nq7(1, {"sex": "F"}, "Renamed"), at=NOW)
    assert refused.value.field == "data.cohort.sex"
    async with council.read() as uow:
        person = await uow.people.get(STOKE, "NQ-7")
    assert person is not None and person.display_name == "Sam Seven"  # nothing applied
    assert await _values(council) == COHORTS


async def test_narrowing_erases_the_attribute_and_off_erases_everything(
    council: Transactions,
) -> None:
    async with council.read() as uow:
        head = await uow.audit.head(STOKE)
    assert head is not None
    change = await admin.set_equality_view(council, STOKE, ["ethnicity"], "cli", NOW)
    assert (change.attributes, change.values_erased, change.changed) == (("ethnicity",), 2, True)
    assert await _values(council) == {
        ref: {"ethnicity": v["ethnicity"]} for ref, v in COHORTS.items()
    }
    again = await admin.set_equality_view(council, STOKE, ["ethnicity"], "cli", NOW)
    assert (again.values_erased, again.changed) == (0, False)
    off = await admin.set_equality_view(council, STOKE, None, "cli", NOW)
    assert (off.attributes, off.values_erased) == (None, 3)
    assert await _values(council) == {}
    async with council.read() as uow:
        assert await uow.cohorts.attributes(STOKE) is None
        rows = [r async for r in uow.audit.export(STOKE, NOW, NOW + dt.timedelta(seconds=1))]
    assert [(r.kind, json.loads(r.data)) for r in rows] == [
        ("equality_view_set", {"attributes": ["ethnicity"], "values_erased": 2}),
        ("equality_view_set", {"attributes": [], "values_erased": 3}),
    ]
    # Off, a cohort is refused again, and the report has no view to show.
    with pytest.raises(InputError):
        await apply_event(council, "c-1", _nq7(1, {"ethnicity": "Mixed"}), at=NOW)
    report = await caseload_report(council, STOKE, None, WEEK, NOW, equality=True)
    assert report.equality is None


@pytest.mark.parametrize(
    "attributes",
    [[], ["Ethnicity"], ["a" * 33], [f"a{n}" for n in range(11)]],
    ids=["none", "capital", "long", "eleven"],
)
async def test_bad_attribute_keys_are_refused(council: Transactions, attributes: list[str]) -> None:
    with pytest.raises(InputError) as refused:
        await admin.set_equality_view(council, STOKE, attributes, "cli", NOW)
    assert refused.value.field == "attributes"
    async with council.read() as uow:
        assert await uow.cohorts.attributes(STOKE) == ("ethnicity", "route")


async def test_only_a_report_asked_for_with_equality_carries_it(council: Transactions) -> None:
    plain = await caseload_report(council, STOKE, None, WEEK, NOW)
    assert plain.equality is None
    team = await caseload_report(council, STOKE, "T-1", WEEK, NOW)
    assert team.equality is None
    report = await caseload_report(council, STOKE, None, WEEK, NOW, equality=True)
    assert report.equality is not None
    assert dataclasses.replace(report, equality=None) == plain
    ethnicity, route = report.equality.attributes
    assert (ethnicity.attribute, route.attribute) == ("ethnicity", "route")
    assert [(g.value, g.suppressed) for g in ethnicity.groups] == [
        ("White British", "fewer than 5"),
        ("Black African", "fewer than 5"),
        (NOT_RECORDED, "fewer than 5"),
    ]
    assert all(g.measures is None for s in report.equality.attributes for g in s.groups)
    assert report.equality.complex_work[0] == "Child protection"
