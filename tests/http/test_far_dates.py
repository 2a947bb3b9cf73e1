"""Dates at the ends of the calendar (issue 6, defect 1): a leave `to: 9999-12-31` (a case
system's usual "open-ended"), an ASYE starting in 9999, `on=9999-12-31`. Whatever sequence
of accepted events a worker has had, every later event and question about them is answered
2xx or 4xx, never 5xx, so a real allocation is never lost to a 500 on every redelivery."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http.conftest import STOKE, Api, at, create_token, event

EDGES = [
    dt.date.min,
    dt.date(1, 1, 31),
    dt.date(9999, 1, 31),
    dt.date(9999, 6, 1),
    dt.date(9999, 12, 1),
    dt.date(9999, 12, 30),
    dt.date.max,
]
days = st.one_of(st.sampled_from(EDGES), st.dates())
_serial = itertools.count()


@st.composite
def worker_events(draw: st.DrawFn, worker: str) -> list[tuple[str, dict[str, Any]]]:
    """An ASYE record and some of: leave (perhaps open-ended), reviews, an agreement, at
    dates anywhere in the calendar."""
    out: list[tuple[str, dict[str, Any]]] = [
        (
            "worker.upserted",
            {
                "ref": worker,
                "name": "Far Dates",
                "roles": ["nqsw"],
                "team_ref": "T-1",
                "asye": {
                    "start": draw(days).isoformat(),
                    "fte": draw(st.sampled_from([1.0, 0.5, 0.1])),
                },
            },
        )
    ]
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["leave", "review", "agreement"]))
        if kind == "leave":
            start = draw(days)
            end = draw(st.one_of(st.none(), st.just(dt.date.max), st.dates(min_value=start)))
            data: dict[str, Any] = {
                "worker_ref": worker,
                "from": start.isoformat(),
                "reason": "maternity",
            }
            if end is not None:
                data["to"] = end.isoformat()
            out.append(("worker.leave_recorded", data))
        elif kind == "review":
            month = draw(st.sampled_from([3, 6, 9, 11]))
            data = {
                "worker_ref": worker,
                "month": month,
                "passed": True,
                "on": draw(days).isoformat(),
            }
            out.append(("worker.review_recorded", data))
        else:
            out.append(
                (
                    "worker.agreement_recorded",
                    {
                        "worker_ref": worker,
                        "agreement": "complex_working_agreement",
                        "on": draw(days).isoformat(),
                    },
                )
            )
    return out


FAR = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def token(api: Api) -> str:
    return await create_token(api.storage, STOKE)


@FAR
@given(data=st.data())
async def test_after_any_accepted_history_every_event_and_question_is_answered(
    api: Api, token: str, data: st.DataObject
) -> None:
    n = next(_serial)
    worker, case = f"FD-{n}", f"FD-C-{n}"
    history = data.draw(worker_events(worker))
    minute = 0
    for type_, body in history:
        minute += 1
        response = await api.deliver(event(type_, body, when=at(minute)))
        assert response.status < 500, (type_, body, await response.text())

    # A child-protection case allocated to them from any date, redelivered: recorded.
    start = data.draw(days)
    case_event = event(
        "case.upserted",
        {"ref": case, "work_type": "child_protection", "children": 2},
        when=at(minute + 1),
    )
    assert (await api.deliver(case_event)).status == 202
    allocation = event(
        "allocation.started",
        {"case_ref": case, "worker_ref": worker, "role": "lead", "from": start.isoformat()},
        when=at(minute + 2),
    )
    msg_id = f"msg_far_{n}"
    first = await api.deliver(allocation, msg_id=msg_id)
    assert first.status == 202, await first.text()
    again = await api.deliver(allocation, msg_id=msg_id)
    assert again.status == 202 and (await again.json())["duplicate"] is True

    on = data.draw(days).isoformat()
    answers = [
        await api.get(f"/api/v1/workers/{worker}/entitlements", token, on=on),
        await api.get(f"/api/v1/workers/{worker}/breaches", token),
        await api.decide(
            token,
            {
                "org": STOKE,
                "worker_ref": worker,
                "proposal": {"case_id": "X-1", "work_type": "child_protection", "children": 1},
                "on": on,
            },
        ),
    ]
    for response in answers:
        assert response.status == 200, (on, await response.text())
    ended = event(
        "allocation.ended",
        {"case_ref": case, "worker_ref": worker, "to": data.draw(days).isoformat()},
        when=at(minute + 3),
    )
    assert (await api.deliver(ended)).status == 202


@pytest.mark.parametrize(
    "leave_to", [None, "9999-12-31"], ids=["leave without an end", "leave to 9999-12-31"]
)
async def test_open_ended_leave_either_way_stops_the_clock(
    api: Api, token: str, leave_to: str | None
) -> None:
    """The regression itself: an NQSW in month 7 goes on leave with no known return; a
    child-protection case allocated to them afterwards is recorded, and their clock stays
    stopped, so the decision still says "co-work only" with no date when it would open."""
    start = (dt.date.today() - dt.timedelta(days=215)).isoformat()
    leave_from = (dt.date.today() - dt.timedelta(days=10)).isoformat()
    worker = {"ref": "NQ-L", "name": "On Leave", "roles": ["nqsw"], "team_ref": "T-1"}
    await api.accept(event("worker.upserted", {**worker, "asye": {"start": start}}, when=at(1)))
    leave: dict[str, Any] = {"worker_ref": "NQ-L", "from": leave_from, "reason": "sickness"}
    if leave_to is not None:
        leave["to"] = leave_to
    await api.accept(event("worker.leave_recorded", leave, when=at(2)))
    case = {"ref": "C-CP", "work_type": "child_protection", "children": 1}
    await api.accept(event("case.upserted", case, when=at(3)))
    allocation = {"case_ref": "C-CP", "worker_ref": "NQ-L", "role": "lead"}
    answer = await api.accept(event("allocation.started", allocation, when=at(4)))
    assert answer["changed"] is True
    response = await api.decide(
        token,
        {
            "org": STOKE,
            "worker_ref": "NQ-L",
            "proposal": {"case_id": "C-9", "work_type": "child_protection", "children": 1},
            "on": "9999-12-31",
        },
    )
    decision = await response.json()
    assert response.status == 200, decision
    assert decision["month_of_practice"] < 7.5
    assert decision["outcome"] != "allow"
