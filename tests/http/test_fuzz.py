"""hypothesis against the HTTP doors: whatever arrives, never a 500, and a refused request
leaves every table exactly as it was.

Each test shares one app and database across its examples (hence the function-scoped fixture
health check is off): every example compares a snapshot of every table before and after.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.events import EVENT_TYPES
from tests.http.conftest import (
    BATCH_PATH,
    SAMPLES,
    STOKE,
    Api,
    audit_problems,
    create_token,
    sign,
    snapshot,
    worker,
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PATH = "/webhooks/case-events"

# --- strategies ----------------------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
"""Any text that can be sent as UTF-8, including control characters and NUL."""

refs = st.one_of(st.sampled_from(["C-1", "C-2", "NQ-1", "TM-1", "T-1", "NQ-404"]), text)
dates = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2025-02-30", "0000-01-01", "2025-1-1", ""]),
    text,
)
instants = st.one_of(
    st.just("2025-01-06T10:00:00+00:00"),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # naive
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]),
    text,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "ref": refs,
    "case_ref": refs,
    "worker_ref": refs,
    "team_ref": refs,
    "manager_ref": refs,
    "assessor_ref": refs,
    "name": text,
    "kind": st.sampled_from(["assessment", "children_in_care"]) | text,
    "work_type": st.sampled_from(
        ["child_in_need", "child_protection", "private_law", "child_in_care", "care_proceedings"]
    )
    | text,
    "children": st.integers(min_value=-3, max_value=60) | scalars,
    "flags": st.lists(st.sampled_from(["settled_placement"]) | text, max_size=3),
    "external": st.booleans() | scalars,
    "role": st.sampled_from(["lead", "co_work"]) | text,
    "roles": st.lists(st.sampled_from(["nqsw", "team_manager", "admin"]) | text, max_size=3),
    "from": dates,
    "to": dates,
    "on": dates,
    "start": dates,
    "month": st.integers(min_value=-1, max_value=70),
    "passed": st.booleans() | scalars,
    "agreement": st.sampled_from(["complex_working_agreement"]) | text,
    "reason": st.sampled_from(["sickness", "maternity"]) | text,
    "fte": st.floats(min_value=-1, max_value=2) | scalars,
    "channels": st.fixed_dictionaries(
        {}, optional={"slack": text | st.text(max_size=120), "teams": st.text(max_size=320)}
    ),
    "chat": st.fixed_dictionaries(
        {},
        optional={
            k: text | st.text(alphabet="abc0123456789", min_size=60, max_size=110)
            for k in ("slack_team_id", "slack_user_id", "teams_tenant_id", "teams_aad_object_id")
        },
    ),
    "child_name": text,
}
"""Values for every field the contract knows (and one it must refuse), good and bad."""


@st.composite
def near_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event of a real type with up to three of its fields (or the envelope's)
    replaced by plausible or hostile values, or a field taken away or added."""
    type_ = draw(st.sampled_from(sorted(SAMPLES)))
    data = copy.deepcopy(SAMPLES[type_])
    for key in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=3, unique=True)):
        data[key] = draw(FIELD_VALUES[key])
    drop = draw(st.booleans())
    if data and drop:
        del data[draw(st.sampled_from(sorted(data)))]
    body: dict[str, Any] = {
        # Mostly the data's own type; sometimes another's, whose fields it does not have.
        "type": draw(st.just(type_) | st.sampled_from(list(EVENT_TYPES))),
        "occurred_at": draw(instants),
        "org": STOKE,
        "data": data,
    }
    if draw(st.integers(0, 4)) == 0:
        body[draw(st.sampled_from(sorted(body)))] = draw(json_values)
    return body


hostile_json = st.one_of(
    st.integers(1, 6000).map(lambda n: b"[" * n + b"]" * n),  # deep nesting
    st.integers(1, 6000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(1000, 6000).map(lambda n: b"9" * n),  # past Python's int digit limit
    st.sampled_from([b"NaN", b"-Infinity", b'"\\ud800"', b"1e999", b"\xef\xbb\xbf{}"]),
)
"""JSON (or nearly) that trips parsers rather than validators."""

bodies = st.one_of(
    hostile_json,
    st.binary(max_size=300),
    text.map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_events().map(lambda v: json.dumps(v).encode()),
    # A valid-looking event with the sender's own non-ASCII spelling of JSON.
    near_events().map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
)

header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
random_headers = st.dictionaries(
    st.sampled_from(
        ["webhook-id", "webhook-timestamp", "webhook-signature", "X-Request-Id", "Content-Type"]
    ),
    header_text
    | st.integers(min_value=-(2**40), max_value=2**40).map(str)
    | st.sampled_from(["v1,", "v1,AAAA", "v1,=", "v1 v1,x", ",", "1e400", "nan"]),
)


# --- webhooks ------------------------------------------------------------------------------


@pytest.fixture
async def seeded(api: Api) -> Api:
    """Something for events to hit: a worker and a case (set up once per test)."""
    await api.accept(
        {
            "type": "worker.upserted",
            "occurred_at": "2025-01-06T09:00:00+00:00",
            "org": STOKE,
            "data": worker("NQ-1"),
        }
    )
    await api.accept(
        {
            "type": "case.upserted",
            "occurred_at": "2025-01-06T09:00:00+00:00",
            "org": STOKE,
            "data": {"ref": "C-1", "work_type": "child_in_need", "children": 2},
        }
    )
    return api


@FUZZ
@given(body=bodies)
async def test_signed_garbage_never_500_and_refusals_change_nothing(
    seeded: Api, body: bytes
) -> None:
    api = seeded
    before = await snapshot(api.db)
    response = await api.client.post(PATH, data=body, headers=sign(body))
    answer = await response.json()
    assert response.status in (202, 400, 401, 404, 409), answer
    assert "error" in answer or response.status == 202
    if response.status != 202:
        assert await snapshot(api.db) == before, answer
    assert await audit_problems(api.db) == ()


@FUZZ
@given(body=bodies, headers=random_headers)
async def test_random_headers_are_401_and_change_nothing(
    seeded: Api, body: bytes, headers: dict[str, str]
) -> None:
    api = seeded
    before = await snapshot(api.db)
    response = await api.client.post(PATH, data=body, headers=headers)
    answer = await response.json()
    assert response.status == 401, answer
    assert await snapshot(api.db) == before


# --- batches -------------------------------------------------------------------------------

bad_ids = st.one_of(text, st.integers(), st.none(), st.just("x" * 201))
sample_events = st.sampled_from(sorted(SAMPLES)).map(
    lambda t: {
        "type": t,
        "occurred_at": "2025-01-06T10:00:00+00:00",
        "org": STOKE,
        "data": SAMPLES[t],
    }
)
"""Events the server accepts (given what they refer to), so that batches mix them in."""


def rarely[T](draw: st.DrawFn, usual: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> T:
    """Mostly `usual`: a batch is refused as a whole for one odd part, so the odd parts are
    rare enough that most batches reach their events."""
    # Not 0 for odd: hypothesis draws its least value far more often than the others.
    return draw(odd if draw(st.integers(0, 9)) == 5 else usual)


@st.composite
def batched_events(draw: st.DrawFn) -> Any:
    """A near event with an id in place of its org, now and then something else."""
    item: Any = rarely(draw, sample_events | near_events(), json_values)
    if isinstance(item, dict):
        if rarely(draw, st.just(True), st.booleans()):
            item.pop("org", None)
        if rarely(draw, st.just(True), st.booleans()):
            # Now and then an id of a few: repeated within a batch (refused as a whole) or
            # across examples (a duplicate).
            item["id"] = rarely(draw, st.uuids().map(str), bad_ids | st.sampled_from("ab"))
    return {**item} if isinstance(item, dict) else item


@st.composite
def near_batches(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "org": rarely(draw, st.just(STOKE), st.sampled_from(["dorset", "nowhere"]) | json_values),
        "events": draw(
            st.lists(batched_events(), min_size=rarely(draw, st.just(1), st.just(0)), max_size=6)
        ),
    }
    if draw(st.integers(0, 9)) == 5:
        body[draw(st.sampled_from(["events", "org", "note"]))] = draw(json_values)
    return body


batch_bodies = st.one_of(
    # Hypothesis favours the first strategies of a one_of: batches that reach their events.
    near_batches().map(lambda v: json.dumps(v).encode()),
    near_batches().map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.one_of(hostile_json, st.binary(max_size=300), json_values.map(json.dumps).map(str.encode)),
)
BATCH_STATUSES = {"accepted", "duplicate", "refused", "not_yet_known"}


@FUZZ
@given(body=batch_bodies)
async def test_signed_garbage_batches_never_500_and_refusals_change_nothing(
    seeded: Api, body: bytes
) -> None:
    """A batch refused as a whole changes nothing; answered, it has a result per event,
    and only the events accepted left anything behind (their receipts among it)."""
    api = seeded
    before = await snapshot(api.db)
    response = await api.client.post(BATCH_PATH, data=body, headers=sign(body))
    answer = await response.json()
    assert response.status in (200, 400, 404, 413), answer
    after = await snapshot(api.db)
    if response.status != 200:
        assert "error" in answer and after == before, answer
        return
    events = json.loads(body)["events"]
    results = answer["results"]
    assert [r["id"] for r in results] == [e["id"] for e in events]
    assert {r["status"] for r in results} <= BATCH_STATUSES, results
    accepted = sum(r["status"] == "accepted" for r in results)
    receipts = len(after["webhook_receipts"]) - len(before["webhook_receipts"])
    assert receipts == accepted, results
    if not accepted:
        assert after == before, results
    assert await audit_problems(api.db) == ()


@FUZZ
@given(body=batch_bodies, headers=random_headers)
async def test_batches_with_random_headers_are_401_and_change_nothing(
    seeded: Api, body: bytes, headers: dict[str, str]
) -> None:
    api = seeded
    before = await snapshot(api.db)
    response = await api.client.post(BATCH_PATH, data=body, headers=headers)
    answer = await response.json()
    assert response.status == 401, answer
    assert await snapshot(api.db) == before


# --- the decision API ----------------------------------------------------------------------

proposals = st.fixed_dictionaries(
    {},
    optional={
        "case_id": refs,
        "work_type": FIELD_VALUES["work_type"],
        "children": FIELD_VALUES["children"],
        "role": FIELD_VALUES["role"],
        "flags": FIELD_VALUES["flags"],
        "external": FIELD_VALUES["external"],
        "overrides": st.lists(text, max_size=2),
        "child_name": text,
    },
)
decision_bodies = st.one_of(
    hostile_json,
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "org": st.sampled_from([STOKE, "dorset", "nowhere"]) | text,
            "worker_ref": st.sampled_from(["NQ-1", "TM-1", "NQ-404"]) | text,
            "proposal": proposals | json_values,
            "on": dates | scalars,
            "override": st.fixed_dictionaries(
                {},
                optional={
                    "justification": st.text(min_size=8, max_size=40)
                    # JSON may carry lone surrogates ("\\ud800"): Python's json reads them.
                    | st.text(
                        alphabet=st.characters(categories=["L", "Cc", "Cs"]),
                        min_size=10,
                        max_size=40,
                    ),
                    "approver_role": st.sampled_from(["team_manager", "nqsw"]) | text,
                },
            )
            | scalars,
            "address": text,
        },
    ),
)


@pytest.fixture
async def token(seeded: Api) -> str:
    await seeded.accept(
        {
            "type": "worker.upserted",
            "occurred_at": "2025-01-06T09:00:00+00:00",
            "org": STOKE,
            "data": worker("TM-1", roles=("team_manager",), asye_days_ago=None),
        }
    )
    return await create_token(seeded.storage, STOKE)


@FUZZ
@given(body=decision_bodies)
async def test_decision_api_never_500_and_only_logs_decisions(
    seeded: Api, token: str, body: Any
) -> None:
    api = seeded
    before = await snapshot(api.db)
    response = await api.decide(token, body)
    answer = await response.json()
    assert response.status in (200, 400, 404), answer
    after = await snapshot(api.db)
    if response.status != 200:
        assert after == before, answer
    else:
        # A decision appends to the audit log (a decision, perhaps an override) and nothing else.
        changed = {t for t in after if after[t] != before[t]}
        assert changed <= {"audit_log", "audit_heads"}, changed
        assert len(after["audit_log"]) - len(before["audit_log"]) in (0, 1, 2)
        assert await audit_problems(api.db) == ()
