"""POST /webhooks/case-events:batch: several events in one signed request, each applied
once and in order, each with its own result; a batch wrong as a whole changes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import build_app
from bot.http_body import MAX_BATCH_BODY, MAX_BODY
from bot.services import bootstrap
from bot.settings import Settings
from handlers import admin, case_events
from handlers.events import MAX_BATCH_EVENTS
from policy import parse_policy, preset_text
from storage.db import Database
from storage.models import Allocation, CaseRow, WebhookReceipt
from storage.repositories import Storage
from tests.conftest import database
from tests.fakes import BusyAfter
from tests.http.conftest import (
    BATCH_PATH,
    OTHER,
    OTHER_SECRET,
    SAMPLES,
    SECRET,
    STOKE,
    Api,
    at,
    audit_problems,
    batch,
    body_of,
    event,
    sign,
    snapshot,
    worker,
)

CIN = {"ref": "C-1", "work_type": "child_in_need", "children": 2}
CP = {"ref": "C-1", "work_type": "child_protection", "children": 2}


def _mixed() -> list[dict[str, Any]]:
    """A worker, a case, its allocation (which needs both), then the case stepped up to CP
    (a breach for a worker before the six-month review on stoke-childrens)."""
    return [
        event("worker.upserted", worker("NQ-1"), when=at(0)),
        event("case.upserted", CIN, when=at(1)),
        event(
            "allocation.started",
            {"case_ref": "C-1", "worker_ref": "NQ-1", "role": "lead"},
            when=at(2),
        ),
        event("case.upserted", CP, when=at(3)),
    ]


async def _answer(api: Api, value: dict[str, Any] | bytes | str) -> list[dict[str, Any]]:
    """Deliver a batch that must be answered 200; its results."""
    response = await api.deliver_batch(value)
    answer = await response.json()
    assert response.status == 200, answer
    assert set(answer) == {"results"}
    results: list[dict[str, Any]] = answer["results"]
    return results


async def _refused_whole(
    api: Api, value: dict[str, Any] | bytes | str, status: int, case: object = ""
) -> dict[str, Any]:
    """Deliver, expect `status` with the `Error` shape, and check that nothing changed."""
    before = await snapshot(api.db)
    response = await api.deliver_batch(value)
    answer: dict[str, Any] = await response.json()
    assert response.status == status, (case, answer)
    assert set(answer) <= {"error", "message", "field"} and answer["message"], (case, answer)
    assert await snapshot(api.db) == before, case
    return answer


async def _allocations(db: Database) -> list[tuple[str, int]]:
    async with db.read() as session:
        rows = await session.execute(
            select(CaseRow.ref, Allocation.person_id).join(
                Allocation, Allocation.case_id == CaseRow.id
            )
        )
        return [(ref, person_id) for ref, person_id in rows.all()]


# --- applied once, in order ----------------------------------------------------------------


async def test_a_signed_batch_applies_each_event_in_order_with_a_result_each(api: Api) -> None:
    results = await _answer(api, batch(*_mixed()))
    assert [r["id"] for r in results] == ["ev-0", "ev-1", "ev-2", "ev-3"]
    assert [r["status"] for r in results] == ["accepted"] * 4
    assert all(r["changed"] is True and "error" not in r for r in results)
    # The allocation relied on the worker and the case sent before it in the same batch;
    # the step up to CP opened a breach for the worker who holds it.
    assert results[3]["breaches_opened"] >= 1 and results[3]["breaches_resolved"] == 0
    assert len(await _allocations(api.db)) == 1
    async with api.db.read() as session:
        ids = set(await session.scalars(select(WebhookReceipt.webhook_id)))
    assert ids == {"ev-0", "ev-1", "ev-2", "ev-3"}
    assert await audit_problems(api.db) == ()


async def test_a_batch_split_across_transactions_by_time_applies_every_event(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that ends after its time (here after one event) has recorded the
    deliveries of the events it leaves for the next: none is then taken for a redelivery."""
    monkeypatch.setattr(case_events, "GROUP_SECONDS", 0.0)
    results = await _answer(api, batch(*_mixed()))
    assert [r["status"] for r in results] == ["accepted"] * 4
    assert len(await _allocations(api.db)) == 1
    async with api.db.read() as session:
        ids = set(await session.scalars(select(WebhookReceipt.webhook_id)))
    assert ids == {"ev-0", "ev-1", "ev-2", "ev-3"}
    results = await _answer(api, batch(*_mixed()))
    assert [r["status"] for r in results] == ["duplicate"] * 4


async def test_a_replayed_batch_is_all_duplicates_and_changes_nothing(api: Api) -> None:
    await _answer(api, batch(*_mixed()))
    before = await snapshot(api.db)
    results = await _answer(api, batch(*_mixed()))  # a new request id, the same event ids
    assert [r["status"] for r in results] == ["duplicate"] * 4
    assert all(r["changed"] is False for r in results)
    assert await snapshot(api.db) == before


async def test_an_event_sent_singly_and_again_in_a_batch_is_applied_once(api: Api) -> None:
    first, second = event("case.upserted", CIN, when=at(1)), event("case.upserted", CP, when=at(2))
    await api.accept(first, msg_id="msg-single")
    before = await snapshot(api.db)
    results = await _answer(api, batch({"id": "msg-single", **first}))
    assert results == [{"id": "msg-single", "status": "duplicate", "changed": False, **_NONE}]
    assert await snapshot(api.db) == before
    # And the other way round: in a batch first, then singly.
    await _answer(api, batch({"id": "msg-batched", **second}))
    response = await api.deliver(second, msg_id="msg-batched")
    assert response.status == 202 and (await response.json())["duplicate"] is True


_NONE = {"breaches_opened": 0, "breaches_resolved": 0}


async def test_the_same_events_leave_the_same_tables_batched_as_one_by_one(
    db: Database, tmp_path: Path
) -> None:
    """Every row of every table alike, on a clock held still so that times match."""
    events = [
        *_mixed(),
        *(event(t, d, when=at(10 + i)) for i, (t, d) in enumerate(SAMPLES.items())),
    ]
    ids = [f"ev-{i}" for i in range(len(events))]
    (tmp_path / "single").mkdir()
    async with database(db.engine.dialect.name, tmp_path / "single") as other:
        async with _still_app(db) as batched, _still_app(other) as single:
            now = STILL  # the app's clock: a signature is checked against it
            body = body_of(batch(*events))
            response = await batched.post(BATCH_PATH, data=body, headers=sign(body, timestamp=now))
            answer = await response.json()
            assert response.status == 200, answer
            statuses = [r["status"] for r in answer["results"]]
            assert statuses == ["accepted"] * len(events)
            for msg_id, value in zip(ids, events, strict=True):
                body = body_of(value)
                headers = sign(body, msg_id=msg_id, timestamp=now)
                response = await single.post("/webhooks/case-events", data=body, headers=headers)
                assert response.status == 202, await response.text()
        batched_rows, single_rows = await snapshot(db), await snapshot(other)
    # Each organisation's creation time is the wall clock's, not the app's.
    del batched_rows["organisations"], single_rows["organisations"]
    assert batched_rows == single_rows


STILL = dt.datetime.now(dt.UTC).replace(microsecond=0)


@asynccontextmanager
async def _still_app(db: Database) -> AsyncIterator[TestClient[Any, Any]]:
    """The app over `db` with organisation stoke, its clock stopped at STILL."""
    source, text = preset_text("stoke-childrens")
    policy = parse_policy(text, source, parent=preset_text)
    storage = Storage(db)
    await admin.create_organisation(
        storage, STOKE, STOKE, policy, "stoke-childrens", text, "cli", STILL
    )
    services = bootstrap(Settings(CASE_EVENTS_SECRET=SECRET), database=db, now=lambda: STILL)
    async with TestClient(TestServer(build_app(services))) as client:
        yield client


# --- one event refused, the others applied --------------------------------------------------


async def test_a_bad_event_in_the_middle_is_refused_alone(api: Api) -> None:
    events = _mixed()
    events[2:2] = [
        event("case.upserted", {**CIN, "ref": "C-9", "children": -1}, when=at(1)),
        event("case.upserted", {**CIN, "ref": "C-8", "child_name": "Alex"}, when=at(1)),
    ]
    results = await _answer(api, batch(*events))
    statuses = [r["status"] for r in results]
    assert statuses == ["accepted", "accepted", "refused", "refused", "accepted", "accepted"]
    assert results[2]["error"]["field"] == "data.children" and "changed" not in results[2]
    assert results[3]["error"]["field"] == "data.child_name"
    async with api.db.read() as session:
        refs = set(await session.scalars(select(CaseRow.ref)))
        ids = set(await session.scalars(select(WebhookReceipt.webhook_id)))
    assert refs == {"C-1"} and ids == {"ev-0", "ev-1", "ev-4", "ev-5"}
    assert len(await _allocations(api.db)) == 1
    # Its id was not used up: corrected and sent again, it is accepted.
    fixed = {"id": "ev-2", **event("case.upserted", {**CIN, "ref": "C-9"}, when=at(1))}
    assert [r["status"] for r in await _answer(api, batch(fixed))] == ["accepted"]


async def test_each_event_is_refused_as_the_single_route_refuses_it(api: Api) -> None:
    """The same field and message as a 400 of POST /webhooks/case-events."""
    bad = [
        event("case.upserted", {**CIN, "children": "two"}),
        event("case.upserted", {**CIN, "work_type": "child_in_ned"}),
        event("case.deleted", {"ref": "C-1"}),
        {k: v for k, v in event("case.upserted", CIN).items() if k != "type"},
        {**event("case.upserted", CIN), "occurred_at": "2025-01-06T10:00:00"},
        {
            **event("case.upserted", CIN),
            "occurred_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat(),
        },
        {**event("case.upserted", CIN), "note": "x"},
        event("worker.upserted", {**worker("NQ-1"), "cohort": {"ethnicity": "x"}}),
    ]
    before = await snapshot(api.db)
    results = await _answer(api, batch(*bad))
    assert await snapshot(api.db) == before
    for value, result in zip(bad, results, strict=True):
        single = await api.deliver(value)
        expected = await single.json()
        assert single.status == 400, expected
        assert result["status"] == "refused", result
        assert result["error"] == {
            "field": expected["field"],
            "message": expected["message"].removeprefix(f"{expected['field']}: "),
        }, value


async def test_an_event_that_names_its_own_org_is_refused_alone(api: Api) -> None:
    value = batch(event("case.upserted", CIN))
    value["events"][0]["org"] = OTHER
    results = await _answer(api, value)
    assert results[0]["status"] == "refused" and results[0]["error"]["field"] == "org"


async def test_an_event_ahead_of_its_prerequisite_is_not_yet_known_then_accepted(api: Api) -> None:
    allocation = event(
        "allocation.started", {"case_ref": "C-1", "worker_ref": "NQ-1", "role": "lead"}, when=at(2)
    )
    results = await _answer(
        api, batch(allocation, event("worker.upserted", worker("NQ-1"), when=at(0)))
    )
    assert [r["status"] for r in results] == ["not_yet_known", "accepted"]
    assert "case.upserted" in results[0]["error"]["message"]
    results = await _answer(
        api, batch(event("case.upserted", CIN, when=at(1)), allocation, prefix="b")
    )
    assert [r["status"] for r in results] == ["accepted", "accepted"]
    assert len(await _allocations(api.db)) == 1


# --- refused as a whole ---------------------------------------------------------------------


async def test_a_forged_or_stale_batch_is_401_and_changes_nothing(api: Api) -> None:
    body = body_of(batch(*_mixed()))
    for headers in (
        sign(body, secret=OTHER_SECRET),
        sign(body, timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)),
        {**sign(body), "webhook-signature": sign(b"{}")["webhook-signature"]},
        {"Content-Type": "application/json"},
    ):
        before = await snapshot(api.db)
        response = await api.client.post(BATCH_PATH, data=body, headers=headers)
        assert response.status == 401, await response.text()
        assert await snapshot(api.db) == before
    tampered = body.replace(b'"children": 2', b'"children": 3')
    before = await snapshot(api.db)
    response = await api.client.post(BATCH_PATH, data=tampered, headers=sign(body))
    assert response.status == 401 and await snapshot(api.db) == before


async def test_an_organisation_s_own_secret_signs_its_batches(api: Api) -> None:
    """The same secrets as the single route: the org's own, else CASE_EVENTS_SECRET."""
    own, _ = await admin.set_webhook_secret(api.storage, STOKE, "cli", api.clock())
    await _refused_whole(api, batch(event("case.upserted", CIN)), 401, "the deployment's secret")
    response = await api.deliver_batch(batch(event("case.upserted", CIN)), secret=own)
    assert response.status == 200, await response.text()


async def test_a_batch_wrong_as_a_whole_is_one_400_naming_where(api: Api) -> None:
    good = batch(*_mixed())
    one = good["events"][0]
    cases: list[tuple[Any, str]] = [
        (b"{not json", "body"),
        (b"\xff\xfe", "body"),
        ([good], "body"),
        ({"org": STOKE}, "events"),
        ({"org": STOKE, "events": []}, "events"),
        ({"org": STOKE, "events": one}, "events"),
        ({"events": good["events"]}, "org"),
        ({**good, "note": "x"}, "note"),
        ({"org": STOKE, "events": [one, "x"]}, "events[1]"),
        ({"org": STOKE, "events": [{k: v for k, v in one.items() if k != "id"}]}, "events[0].id"),
        ({"org": STOKE, "events": [{**one, "id": ""}]}, "events[0].id"),
        ({"org": STOKE, "events": [{**one, "id": "x" * 201}]}, "events[0].id"),
        ({"org": STOKE, "events": [{**one, "id": "a\u0000b"}]}, "events[0].id"),
        ({"org": STOKE, "events": [{**one, "id": 7}]}, "events[0].id"),
        ({"org": STOKE, "events": [*good["events"], {**one, "id": "ev-1"}]}, "events[4].id"),
    ]
    for value, field in cases:
        answer = await _refused_whole(
            api, value if isinstance(value, bytes) else json.dumps(value), 400, field
        )
        assert answer["field"] == field, (field, answer)
    answer = await _refused_whole(api, good | {"org": "nowhere"}, 404)
    assert "nowhere" in answer["message"]


async def test_too_many_events_or_too_large_a_body_is_413(api: Api) -> None:
    many = batch(
        *[event("case.upserted", {**CIN, "ref": f"C-{i}"}) for i in range(MAX_BATCH_EVENTS + 1)]
    )
    answer = await _refused_whole(api, many, 413)
    assert str(MAX_BATCH_EVENTS) in answer["message"]
    padded = batch(event("case.upserted", {**CIN, "flags": ["x" * 60] * (MAX_BATCH_BODY // 60)}))
    await _refused_whole(api, padded, 413)


async def test_a_batch_larger_than_one_event_may_be_is_accepted(api: Api) -> None:
    """MAX_BATCH_EVENTS events of the larger kind are over the single route's limit."""
    chat = {"slack_team_id": "T" * 64, "slack_user_id": "U" * 64}
    events = [
        event(
            "worker.upserted", {**worker(f"W-{i:03d}{'x' * 58}"), "name": "N" * 120, "chat": chat}
        )
        for i in range(MAX_BATCH_EVENTS)
    ]
    value = batch(*events)
    assert MAX_BODY < len(body_of(value)) < MAX_BATCH_BODY
    results = await _answer(api, value)
    assert {r["status"] for r in results} == {"accepted"} and len(results) == MAX_BATCH_EVENTS


# --- the database busy mid-batch -------------------------------------------------------------


@asynccontextmanager
async def _busy_after(db: Database, writes: int) -> AsyncIterator[TestClient[Any, Any]]:
    services = bootstrap(Settings(CASE_EVENTS_SECRET=SECRET), database=db)
    services = dataclasses.replace(services, tx=BusyAfter(services.tx, writes))
    async with TestClient(TestServer(build_app(services))) as client:
        yield client


async def test_busy_mid_batch_keeps_what_was_applied_and_names_what_was_not(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first transaction (two events at most here) commits, then the database stays
    busy: what it applied stays, the rest are named, and resending all is safe."""
    monkeypatch.setattr(case_events, "GROUP_EVENTS", 2)
    body = body_of(batch(*_mixed()))
    async with _busy_after(api.db, 1) as client:
        response = await client.post(BATCH_PATH, data=body, headers=sign(body))
        answer = await response.json()
    assert response.status == 200, answer
    statuses = [r["status"] for r in answer["results"]]
    applied = statuses.count("accepted")
    assert applied in (1, 2)
    assert statuses == ["accepted"] * applied + ["not_attempted"] * (4 - applied)
    assert "send it again" in answer["results"][-1]["error"]["message"]
    async with api.db.read() as session:
        ids = set(await session.scalars(select(WebhookReceipt.webhook_id)))
    assert ids == {f"ev-{i}" for i in range(applied)}
    results = await _answer(api, batch(*_mixed()))
    assert [r["status"] for r in results] == ["duplicate"] * applied + ["accepted"] * (4 - applied)


async def test_busy_before_anything_was_applied_is_503_and_changes_nothing(api: Api) -> None:
    body = body_of(batch(*_mixed()))
    before = await snapshot(api.db)
    async with _busy_after(api.db, 0) as client:
        response = await client.post(BATCH_PATH, data=body, headers=sign(body))
        answer = await response.json()
    assert response.status == 503 and answer["error"] == "busy", answer
    assert response.headers["Retry-After"]
    assert await snapshot(api.db) == before
