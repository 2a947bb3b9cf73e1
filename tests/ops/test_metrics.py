"""/metrics through the real routes, on SQLite and PostgreSQL: a decision asked of the API
counts under its outcome; a breach that webhook events open shows in its organisation's
gauge and its alert in the outbox's; requests are timed by route pattern; METRICS_TOKEN
closes it; and nothing in it names anyone."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings
from storage.db import Database
from tests.http.conftest import (
    OTHER,
    SAMPLES,
    SECRET,
    STOKE,
    Api,
    at,
    create_token,
    event,
    worker,
)
from tests.ops.helpers import decisions, scrape, value

OUTCOME_LABEL = {"allow": "allowed", "co_work": "co_work_only", "deny": "not_allowed"}


def _case(ref: str, work_type: str) -> dict[str, Any]:
    return {"ref": ref, "work_type": work_type, "children": 1, "flags": [], "external": False}


async def test_a_decision_through_the_api_counts_under_its_outcome(api: Api) -> None:
    token = await create_token(api.storage, STOKE)
    await api.accept(event("worker.upserted", worker("NQ-1", asye_days_ago=40)))
    before = decisions(await scrape(api.client), "api")
    assert before == {"allowed": 0, "co_work_only": 0, "not_allowed": 0}
    outcomes = []
    for work_type in ("child_in_need", "child_protection"):
        proposal = {"case_id": "C-9", "work_type": work_type, "children": 1, "role": "lead"}
        response = await api.decide(
            token, {"org": STOKE, "worker_ref": "NQ-1", "proposal": proposal}
        )
        assert response.status == 200
        outcomes.append((await response.json())["outcome"])
    assert outcomes[0] == "allow" and outcomes[1] != "allow"
    samples = await scrape(api.client)
    expected = {"allowed": 0.0, "co_work_only": 0.0, "not_allowed": 0.0}
    for outcome in outcomes:
        expected[OUTCOME_LABEL[outcome]] += 1
    assert decisions(samples, "api") == expected
    assert decisions(samples, "slack") == decisions(samples, "teams") == before


async def test_a_worker_off_the_asye_is_no_decision(api: Api) -> None:
    token = await create_token(api.storage, STOKE)
    manager = worker("TM-1", roles=("team_manager",), asye_days_ago=None)
    await api.accept(event("worker.upserted", manager))
    proposal = {"case_id": "C-9", "work_type": "child_in_need", "children": 1}
    response = await api.decide(token, {"org": STOKE, "worker_ref": "TM-1", "proposal": proposal})
    assert (await response.json())["asye"] is False
    assert set(decisions(await scrape(api.client), "api").values()) == {0}


async def test_webhook_events_that_open_a_breach_show_in_the_gauges(api: Api) -> None:
    samples = await scrape(api.client)
    assert value(samples, "caseload_database_up") == 1
    assert value(samples, "caseload_open_breaches", org=STOKE) == 0
    assert value(samples, "caseload_outbox_pending") == 0
    assert value(samples, "caseload_outbox_oldest_pending_age_seconds") == 0

    await api.accept(event("team.upserted", SAMPLES["team.upserted"]))
    await api.accept(event("worker.upserted", worker("NQ-1", asye_days_ago=40), when=at(1)))
    await api.accept(event("case.upserted", _case("C-1", "child_in_need"), when=at(2)))
    allocation = {"case_ref": "C-1", "worker_ref": "NQ-1", "role": "lead"}
    await api.accept(event("allocation.started", allocation, when=at(3)))
    stepped_up = await api.accept(
        event("case.upserted", _case("C-1", "child_protection"), when=at(4))
    )
    opened = stepped_up["breaches_opened"]
    assert opened >= 1

    samples = await scrape(api.client)
    assert value(samples, "caseload_open_breaches", org=STOKE) == opened
    assert value(samples, "caseload_open_breaches", org=OTHER) == 0
    pending = value(samples, "caseload_outbox_pending")
    assert pending is not None and pending >= 1  # the alert to T-1's channels, at least
    assert value(samples, "caseload_outbox_failed") == 0
    age = value(samples, "caseload_outbox_oldest_pending_age_seconds")
    assert age is not None and age >= 0
    webhooks = value(
        samples,
        "caseload_http_request_duration_seconds_count",
        route="/webhooks/case-events",
        status_class="2xx",
    )
    assert webhooks == 5

    body = await (await api.client.get("/metrics")).text()
    assert "Worker NQ-1" not in body and "C-1" not in body  # ids and counts only


async def test_requests_are_timed_by_route_pattern_and_status_class(api: Api) -> None:
    token = await create_token(api.storage, STOKE)
    for ref in ("NQ-404", "NQ-405"):
        response = await api.get(f"/api/v1/workers/{ref}/breaches", token)
        assert response.status == 404
    await api.client.get("/no/such/path/C-1")
    samples = await scrape(api.client)
    pattern = "/api/v1/workers/{ref}/breaches"
    name = "caseload_http_request_duration_seconds_count"
    assert value(samples, name, route=pattern, status_class="4xx") == 2
    assert value(samples, name, route="unmatched", status_class="4xx") == 1
    routes = {dict(labels).get("route") for (_, labels) in samples}
    assert not any("NQ-40" in str(r) or "C-1" in str(r) for r in routes)


async def test_metrics_token_closes_metrics(db: Database) -> None:
    settings = Settings(CASE_EVENTS_SECRET=SECRET, METRICS_TOKEN="scrape-me")
    async with TestClient(TestServer(build_app(bootstrap(settings, database=db)))) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status == 401
            assert refused.headers["WWW-Authenticate"] == 'Bearer realm="caseload-bot"'
            assert (await refused.json())["error"] == "unauthorized"
        samples = await scrape(client, token="scrape-me")
        assert value(samples, "caseload_database_up") == 1
        assert (await client.get("/healthz")).status == 200  # the others stay open
        assert (await client.get("/readyz")).status == 200


async def test_each_app_has_its_own_registry(db: Database) -> None:
    """Tests (and benches) build many apps in one process: none shares another's counts."""
    first, second = (bootstrap(Settings(), database=db) for _ in range(2))
    first.metrics.answered("/healthz", 200, 0.01)
    async with TestClient(TestServer(build_app(second))) as client:
        samples = await scrape(client)
    name = "caseload_http_request_duration_seconds_count"
    assert value(samples, name, route="/healthz", status_class="2xx") is None
