"""The decision API over HTTP: bearer tokens, one organisation per token, decisions that
match the policy engine on the stored caseload, and the audit log they leave."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from handlers import admin
from handlers.events import event_day
from handlers.policy_cache import compiled_policy
from policy import DecisionRequest, decide
from policy.requests import parse_case, parse_override
from policy.views import decision_json
from storage.repositories import Storage
from tests.http.conftest import (
    OTHER,
    STOKE,
    Api,
    at,
    audit_kinds,
    audit_problems,
    audit_rows,
    create_token,
    event,
    snapshot,
    worker,
)

ON = event_day(dt.datetime.now(dt.UTC))
WORKER_PATHS = ["/api/v1/workers/NQ-1/entitlements", "/api/v1/workers/NQ-1/breaches"]


async def _seed(api: Api) -> None:
    """NQ-1 in month 8 (three- and six-month reviews passed) holding two cases; TM-1 without
    an ASYE record; D-1 in the other organisation."""
    await api.accept(event("worker.upserted", worker("NQ-1", asye_days_ago=215)))
    await api.accept(
        event("worker.upserted", worker("TM-1", roles=("team_manager",), asye_days_ago=None))
    )
    for month in (3, 6):
        await api.accept(
            event(
                "worker.review_recorded",
                {"worker_ref": "NQ-1", "month": month, "passed": True, "on": "2025-01-01"},
                when=at(month),
            )
        )
    for ref, work_type, children in (("C-1", "child_in_need", 3), ("C-2", "private_law", 2)):
        await api.accept(
            event(
                "case.upserted",
                {"ref": ref, "work_type": work_type, "children": children},
                when=at(10),
            )
        )
        await api.accept(
            event(
                "allocation.started",
                {"case_ref": ref, "worker_ref": "NQ-1", "role": "lead"},
                when=at(11),
            )
        )
    await api.accept(event("worker.upserted", worker("D-1"), org=OTHER))


@pytest.fixture
async def seeded(api: Api) -> Api:
    await _seed(api)
    return api


async def _token_id(storage: Storage, token: str) -> int:
    async with storage.read() as s:
        found = await s.tokens.find(admin.token_digest(token))
    assert found is not None
    return found.id


def _proposal(ref: str, work_type: str, children: int, role: str = "lead") -> dict[str, Any]:
    return {"case_id": ref, "work_type": work_type, "children": children, "role": role}


async def _expected(api: Api, body: dict[str, Any]) -> Mapping[str, object]:
    """What the policy engine says on the caseload as stored, computed here independently."""
    async with api.storage.read() as s:
        org = await s.orgs.get(STOKE)
        person = await s.people.get(STOKE, body["worker_ref"])
        assert org is not None and person is not None
        record = await s.people.asye_worker(person.id)
        caseload = await s.allocations.caseload(person.id, ON)
    assert record is not None
    assert {(c.case_id, c.work_type, c.children, c.role.value) for c in caseload} == {
        ("C-1", "child_in_need", 3, "lead"),
        ("C-2", "private_law", 2, "lead"),
    }
    override = body.get("override")
    decision = decide(
        compiled_policy(org),
        DecisionRequest(
            on=ON,
            worker=record,
            caseload=caseload,
            proposal=parse_case(body["proposal"]),
            override=None if override is None else parse_override(override),
        ),
    )
    return decision_json(decision)


# --- tokens ------------------------------------------------------------------------------


async def test_without_a_valid_token_every_route_is_401(seeded: Api) -> None:
    api = seeded
    token = await create_token(api.storage, STOKE)
    before = await snapshot(api.db)
    body = {"org": STOKE, "worker_ref": "NQ-1", "proposal": _proposal("C-9", "child_in_need", 1)}
    for authorization in (
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer clb_not-a-token",
        f"Bearer {token}x",
        f"Basic {token}",
        token,
    ):
        headers = {} if authorization is None else {"Authorization": authorization}
        for path in WORKER_PATHS:
            response = await api.client.get(path, headers=headers)
            assert response.status == 401, (authorization, path)
            assert (await response.json())["error"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        response = await api.client.post("/api/v1/decisions", json=body, headers=headers)
        assert response.status == 401, authorization
    assert await snapshot(api.db) == before


async def test_a_revoked_token_is_401(seeded: Api) -> None:
    token = await create_token(seeded.storage, STOKE)
    response = await seeded.get("/api/v1/workers/NQ-1/breaches", token)
    assert response.status == 200
    token_id = await _token_id(seeded.storage, token)
    await admin.revoke_token(seeded.storage, STOKE, token_id, "cli", dt.datetime.now(dt.UTC))
    response = await seeded.get("/api/v1/workers/NQ-1/breaches", token)
    assert response.status == 401


async def test_another_orgs_worker_is_404_exactly_like_a_missing_one(seeded: Api) -> None:
    api = seeded
    stoke = await create_token(api.storage, STOKE)
    dorset = await create_token(api.storage, OTHER)
    # Each token sees its own worker...
    assert (await api.get("/api/v1/workers/D-1/breaches", dorset)).status == 200
    assert (await api.get("/api/v1/workers/NQ-1/breaches", stoke)).status == 200
    for path in ("/api/v1/workers/{}/entitlements", "/api/v1/workers/{}/breaches"):
        # ...and not the other organisation's: 404, the same answer as a worker that does not exist.
        theirs = await api.get(path.format("D-1"), stoke)
        missing = await api.get(path.format("D-404"), stoke)
        assert theirs.status == missing.status == 404
        a, b = await theirs.json(), await missing.json()
        assert a["error"] == b["error"] == "not_found"
        assert a["message"].replace("D-1", "X") == b["message"].replace("D-404", "X")
        # Naming the other organisation in the query changes nothing.
        assert (await api.get(path.format("D-1"), stoke, org=OTHER)).status == 404


async def test_a_decision_for_another_org_is_404_like_a_missing_org(seeded: Api) -> None:
    api = seeded
    stoke = await create_token(api.storage, STOKE)
    before = await snapshot(api.db)
    answers = []
    for org, ref in ((OTHER, "D-1"), ("nowhere", "D-1"), (STOKE, "D-1")):
        body = {"org": org, "worker_ref": ref, "proposal": _proposal("C-9", "child_in_need", 1)}
        response = await api.decide(stoke, body)
        assert response.status == 404, org
        answers.append(await response.json())
    assert answers[0]["message"].replace(OTHER, "X") == answers[1]["message"].replace(
        "nowhere", "X"
    )
    assert "D-1" in answers[2]["message"]
    assert await snapshot(api.db) == before  # a refused decision is not logged


# --- decisions ---------------------------------------------------------------------------


PROPOSALS = [
    (_proposal("C-7", "child_in_need", 2), "allow"),
    (_proposal("C-8", "child_protection", 1), "co_work"),  # lead only from month 9
    (_proposal("C-8", "child_protection", 1, "co_work"), "allow"),
    # 5 + 12 > 16 children: the cap counts only led cases, so co-working is still open.
    (_proposal("C-9", "child_in_need", 12), "co_work"),
    (_proposal("C-10", "care_proceedings", 1), "co_work"),
]


async def test_decision_matches_the_engine_on_the_stored_caseload(seeded: Api) -> None:
    api = seeded
    token = await create_token(api.storage, STOKE)
    token_id = await _token_id(api.storage, token)
    for proposal, outcome in PROPOSALS:
        body = {"org": STOKE, "worker_ref": "NQ-1", "proposal": proposal, "on": ON.isoformat()}
        response = await api.decide(token, body)
        answer = await response.json()
        assert response.status == 200, answer
        assert answer == await _expected(api, body)
        assert answer["outcome"] == outcome, proposal
        # A decision is only a question: the caseload is unchanged for the next one.
        assert answer["caseload"]["children_before"] == 5

        logged = (await audit_rows(api.db, "decision"))[-1]
        assert logged["actor"] == f"api:token:{token_id}"
        assert (logged["worker"], logged["case"], logged["role"], logged["outcome"]) == (
            "NQ-1",
            proposal["case_id"],
            proposal["role"],
            outcome,
        )
        assert logged["on"] == ON.isoformat()
        assert logged["source"] == "api"
        assert [(r["rule"], r["effect"]) for r in logged["reasons"]] == [
            (r["rule"], r["effect"]) for r in answer["reasons"]
        ]
    assert len(await audit_rows(api.db, "decision")) == len(PROPOSALS)
    assert "override" not in await audit_kinds(api.db)
    assert await audit_problems(api.db) == ()


async def test_an_overridden_decision_logs_the_override(seeded: Api) -> None:
    api = seeded
    token = await create_token(api.storage, STOKE)
    justification = "Complex Work Agreement support recorded in supervision on Monday"
    body = {
        "org": STOKE,
        "worker_ref": "NQ-1",
        "proposal": _proposal("C-9", "child_protection", 1),
        "on": ON.isoformat(),
        "override": {"justification": justification, "approver_role": "team_manager"},
    }
    response = await api.decide(token, body)
    answer = await response.json()
    assert response.status == 200, answer
    assert answer == await _expected(api, body)
    assert answer["outcome"] == "allow" and answer["overridden"] is True

    kinds = await audit_kinds(api.db)
    assert kinds[-2:] == ["decision", "override"]
    (override,) = await audit_rows(api.db, "override")
    assert override["justification"] == justification
    assert override["approver_role"] == "team_manager"
    assert override["approver"] is None  # the API names a role, not a person
    assert override["rules"] == [r["rule"] for r in answer["reasons"] if r.get("overridden")]
    assert override["rules"] == ["stoke.cp.lead-from-nine-months"]
    assert await audit_problems(api.db) == ()


async def test_an_override_the_rule_does_not_accept_is_not_logged_as_one(seeded: Api) -> None:
    """Month 2, no reviews: the six-month gate has no override, so asking for one leaves the
    decision a denial, logged as a decision and not as an override."""
    api = seeded
    token = await create_token(api.storage, STOKE)
    await api.accept(event("worker.upserted", worker("NQ-2", asye_days_ago=40), when=at(20)))
    body = {
        "org": STOKE,
        "worker_ref": "NQ-2",
        "proposal": _proposal("C-9", "child_protection", 1),
        "override": {
            "justification": "The manager says it is fine",
            "approver_role": "team_manager",
        },
    }
    response = await api.decide(token, body)
    answer = await response.json()
    assert response.status == 200, answer
    assert answer["outcome"] == "deny" and answer["overridden"] is False
    assert "stoke.cp.none-before-six-month-review" in {r["rule"] for r in answer["reasons"]}
    assert (await audit_kinds(api.db))[-1] == "decision"
    assert "override" not in await audit_kinds(api.db)


async def test_a_worker_without_an_asye_record(seeded: Api) -> None:
    api = seeded
    token = await create_token(api.storage, STOKE)
    response = await api.get("/api/v1/workers/TM-1/entitlements", token)
    answer = await response.json()
    assert response.status == 200, answer
    assert answer["asye"] is False and answer["worker_ref"] == "TM-1"
    assert answer["policy"]["id"] == "stoke-childrens"
    body = {"org": STOKE, "worker_ref": "TM-1", "proposal": _proposal("C-9", "child_protection", 1)}
    response = await api.decide(token, body)
    answer = await response.json()
    assert response.status == 200, answer
    assert (answer["asye"], answer["outcome"], answer["requested_role"]) == (False, "allow", "lead")


BAD_DECISIONS: list[tuple[dict[str, Any], str]] = [
    ({"worker_ref": "NQ-1", "proposal": _proposal("C-9", "child_in_need", 1)}, "org"),
    ({"org": STOKE, "worker_ref": "NQ-1"}, "proposal"),
    (
        {"org": STOKE, "worker_ref": "NQ-1", "proposal": _proposal("C-9", "child_in_need", -1)},
        "proposal.children",
    ),
    (
        {
            "org": STOKE,
            "worker_ref": "NQ-1",
            "proposal": {**_proposal("C-9", "child_in_need", 1), "child_name": "Alex"},
        },
        "proposal.child_name",
    ),
    (
        {
            "org": STOKE,
            "worker_ref": "NQ-1",
            "proposal": _proposal("C-9", "child_in_need", 1),
            "on": "03/03/2025",
        },
        "on",
    ),
    (
        {
            "org": STOKE,
            "worker_ref": "NQ-1",
            "proposal": _proposal("C-9", "child_in_need", 1),
            "override": {"justification": "short", "approver_role": "team_manager"},
        },
        "override.justification",
    ),
    (
        {"org": STOKE, "worker_ref": "NQ-1", "proposal": _proposal("C-9", "chid_in_need", 1)},
        "proposal.work_type",
    ),
]


async def test_bad_decision_body_is_400_naming_the_field(seeded: Api) -> None:
    api = seeded
    token = await create_token(api.storage, STOKE)
    before = await snapshot(api.db)
    for body, field in BAD_DECISIONS:
        response = await api.decide(token, body)
        answer = await response.json()
        assert response.status == 400, (field, answer)
        assert answer["error"] == "invalid"
        assert answer["field"] == field, answer
    assert await snapshot(api.db) == before


NOT_JSON_OBJECTS = [
    b"",
    b"{",
    b"\xff\xfe",
    b"[]",
    b"null",
    # Found by test_fuzz: both were a 500 (RecursionError; ValueError past 4300 digits).
    b"[" * 5000 + b"]" * 5000,
    b'{"org": ' + b"9" * 5000 + b"}",
]


async def test_decision_body_that_is_not_a_json_object_is_400(seeded: Api) -> None:
    token = await create_token(seeded.storage, STOKE)
    before = await snapshot(seeded.db)
    for raw in NOT_JSON_OBJECTS:
        response = await seeded.decide(token, raw)
        answer = await response.json()
        assert response.status == 400, (raw[:20], answer)
        assert answer["field"] == "body"
    assert await snapshot(seeded.db) == before


# --- entitlements ------------------------------------------------------------------------


async def test_entitlements_with_a_bad_date_is_400_naming_on(seeded: Api) -> None:
    token = await create_token(seeded.storage, STOKE)
    for on in ("tomorrow", "2025-02-30", "2025-2-3", "20250203", "", "2025-02-03T00:00"):
        response = await seeded.get("/api/v1/workers/NQ-1/entitlements", token, on=on)
        answer = await response.json()
        assert response.status == 400, (on, answer)
        assert answer["field"] == "on" and "on:" in answer["message"]


async def test_entitlements_answer_for_the_stored_caseload(seeded: Api) -> None:
    token = await create_token(seeded.storage, STOKE)
    response = await seeded.get("/api/v1/workers/NQ-1/entitlements", token, on=ON.isoformat())
    answer = await response.json()
    assert response.status == 200, answer
    assert answer["worker_ref"] == "NQ-1" and answer["on"] == ON.isoformat()
    assert answer["caseload"]["children"] == 5
    assert answer["caseload"]["children_remaining"] == 11
    rows = {r["work_type"]: r for r in answer["work_types"]}
    assert (rows["child_protection"]["lead"], rows["child_protection"]["co_work"]) == (
        "co_work",
        "allow",
    )
    # Before the worker started, they held nothing.
    earlier = (ON - dt.timedelta(days=400)).isoformat()
    response = await seeded.get("/api/v1/workers/NQ-1/entitlements", token, on=earlier)
    assert response.status == 200
    assert (await response.json())["caseload"]["children"] == 0
