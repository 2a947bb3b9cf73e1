"""What an integrator reads: /openapi.json covers every route, its references resolve, and
each published event schema accepts a real event of its type (which the server accepts too)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import jsonschema

from handlers.events import EVENT_TYPES
from tests.http.conftest import SAMPLES, STOKE, Api, at, batch, create_token, event

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


async def _openapi(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document: dict[str, Any] = await response.json()
    return document


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """A 2020-12 validator (OpenAPI 3.1's dialect) for a schema inside the OpenAPI document."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    root["components"] = document["components"]
    jsonschema.Draft202012Validator.check_schema(root)
    return jsonschema.Draft202012Validator(root)


async def test_openapi_is_31_and_lists_every_registered_route(api: Api) -> None:
    document = await _openapi(api)
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] and document["info"]["version"]
    registered = {
        (route.resource.canonical, route.method.lower())
        for route in api.client.app.router.routes()
        if route.resource is not None and route.method != "HEAD"  # HEAD comes with each GET
    }
    assert ("/webhooks/case-events", "post") in registered
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    assert registered == documented
    for path, item in document["paths"].items():
        named = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            assert operation["responses"], (path, method)
            for status in operation["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", status), (path, method, status)
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert in_path == named, (path, method)
            for requirement in operation.get("security", []):
                assert set(requirement) <= set(document["components"]["securitySchemes"])


async def test_every_ref_in_openapi_resolves(api: Api) -> None:
    document = await _openapi(api)
    refs = set(_refs(document))
    assert "#/components/schemas/Error" in refs
    assert "#/components/schemas/DecisionRequest" in refs
    for ref in refs:
        _resolve(document, ref)
    for name, schema in document["components"]["schemas"].items():
        assert "$defs" not in schema, f"{name} keeps $defs that its $refs do not point into"
        jsonschema.Draft202012Validator.check_schema(schema)


async def test_openapi_request_schemas_accept_real_requests_and_refuse_bad_ones(api: Api) -> None:
    document = await _openapi(api)
    webhook = document["paths"]["/webhooks/case-events"]["post"]
    events = _validator(document, webhook["requestBody"]["content"]["application/json"]["schema"])
    for type_, data in SAMPLES.items():
        events.validate(event(type_, data))
    assert not events.is_valid(
        event("case.upserted", {**SAMPLES["case.upserted"], "child_name": "A"})
    )
    assert not events.is_valid(event("case.deleted", {"ref": "C-1"}))

    batched = document["paths"]["/webhooks/case-events:batch"]["post"]
    batches = _validator(document, batched["requestBody"]["content"]["application/json"]["schema"])
    good = batch(*(event(type_, data) for type_, data in SAMPLES.items()))
    batches.validate(good)
    one = good["events"][0]
    for bad in (
        {"org": STOKE, "events": []},
        {"org": STOKE, "events": [{k: v for k, v in one.items() if k != "id"}]},
        {"org": STOKE, "events": [{**one, "org": STOKE}]},
        {"org": STOKE, "events": [{**one, "data": {**one["data"], "child_name": "A"}}]},
        {"events": good["events"]},
        {**good, "note": "x"},
    ):
        assert not batches.is_valid(bad), bad

    decisions = document["paths"]["/api/v1/decisions"]["post"]
    request = _validator(
        document, decisions["requestBody"]["content"]["application/json"]["schema"]
    )
    body = {
        "org": STOKE,
        "worker_ref": "NQ-1",
        "proposal": {"case_id": "C-9", "work_type": "child_in_need", "children": 2},
        "on": "2025-04-01",
        "override": {"justification": "Recorded in supervision", "approver_role": "team_manager"},
    }
    request.validate(body)
    assert not request.is_valid({**body, "address": "1 High Street"})
    assert not request.is_valid({k: v for k, v in body.items() if k != "proposal"})


async def test_each_event_schema_validates_a_sample_of_its_type(api: Api) -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)
    for type_ in EVENT_TYPES:
        await _check_event_schema(api, type_)


async def _check_event_schema(api: Api, type_: str) -> None:
    response = await api.client.get(f"/schemas/events/{type_}.json")
    assert response.status == 200
    schema = await response.json()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    sample = event(type_, SAMPLES[type_])
    validator.validate(sample)
    # The schema is specific: the wrong type, a missing field and an extra one are refused.
    other = next(t for t in EVENT_TYPES if t != type_)
    assert not validator.is_valid({**sample, "type": other})
    required = validator.schema["required"]
    assert {"type", "occurred_at", "org", "data"} <= set(required)
    for field in required:
        assert not validator.is_valid({k: v for k, v in sample.items() if k != field}), field
    assert not validator.is_valid({**sample, "data": {**sample["data"], "child_name": "Alex"}})


async def test_the_samples_are_events_the_server_accepts(api: Api) -> None:
    """The schemas and the server agree: every sample validated above is also accepted."""
    for minute, (type_, data) in enumerate(SAMPLES.items()):
        answer = await api.accept(event(type_, data, when=at(minute)))
        assert answer["duplicate"] is False, type_


async def test_unknown_event_schema_is_404_json(api: Api) -> None:
    response = await api.client.get("/schemas/events/case.deleted.json")
    assert response.status == 404
    answer = await response.json()
    assert answer["error"] == "not_found" and "case.upserted" in answer["message"]


async def test_healthz(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_a_method_a_route_does_not_have_is_405_naming_those_it_has(api: Api) -> None:
    for method, path, allowed in (
        ("PUT", "/healthz", {"GET", "HEAD"}),
        ("DELETE", "/openapi.json", {"GET", "HEAD"}),
        ("GET", "/api/v1/decisions", {"POST"}),
        ("PATCH", "/webhooks/case-events", {"POST"}),
        ("POST", "/api/v1/workers/NQ-1/breaches", {"GET", "HEAD"}),
    ):
        response = await api.client.request(method, path)
        assert response.status == 405, (method, path)
        assert (await response.json())["error"] == "method"
        assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


NOT_DATES: list[object] = [
    "2025-02-30",
    "01/04/2025",
    "20250401",
    "2025-4-1",
    "2025-04-01T00:00",
    "",
    20250401,
]
"""Each refused by the server's date type (`policy.requests.Day`)."""


def _dates_checked(schema: dict[str, Any]) -> jsonschema.Validator:
    cls = jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


async def test_dates_are_published_as_dates_and_refused_alike(api: Api) -> None:
    """`on` had an empty schema (anything went) while the server took only YYYY-MM-DD."""
    document = await _openapi(api)
    token = await create_token(api.storage, STOKE)
    operation = document["paths"]["/api/v1/decisions"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    decisions = _dates_checked(_validator(document, schema).schema)
    body = {
        "org": STOKE,
        "worker_ref": "NQ-1",
        "proposal": {"case_id": "C-9", "work_type": "child_in_need", "children": 1},
        "on": "2025-04-01",
    }
    decisions.validate(body)
    response = await api.client.get("/schemas/events/worker.review_recorded.json")
    events = _dates_checked(await response.json())
    review = event("worker.review_recorded", SAMPLES["worker.review_recorded"])
    events.validate(review)
    for bad in NOT_DATES:
        assert not decisions.is_valid({**body, "on": bad}), bad
        assert not events.is_valid({**review, "data": {**review["data"], "on": bad}}), bad
        answer = await api.decide(token, {**body, "on": bad})
        assert answer.status == 400 and (await answer.json())["field"] == "on", bad


async def test_published_parameters_accept_exactly_what_the_server_accepts(api: Api) -> None:
    """The query and path parameters come from the models that validate them: a value the
    document allows gets past validation (here to a 404), one it forbids is a 400."""
    document = await _openapi(api)
    token = await create_token(api.storage, STOKE)
    operation = document["paths"]["/api/v1/workers/{ref}/entitlements"]["get"]
    parameters = {p["name"]: _dates_checked(p["schema"]) for p in operation["parameters"]}
    assert {"ref", "on", "org"} <= set(parameters)
    tried = {
        "on": ["2025-04-01", "2025-02-30", "tomorrow", "", "2025-4-1", "2025-04-01 "],
        "org": [STOKE, "no one", "-x", "x" * 65, "a/b.c:d_e-f"],
        "ref": ["NQ-404", "a b", "-x", "7" * 65, "NQ.1:2"],
    }
    for name, values in tried.items():
        for value in values:
            ref, query = (value, {}) if name == "ref" else ("NQ-404", {name: value})
            path = f"/api/v1/workers/{quote(ref, safe='')}/entitlements"
            response = await api.get(path, token, **query)
            assert response.status in (400, 404), (name, value)
            documented = parameters[name].is_valid(value)
            assert documented == (response.status == 404), (name, value, response.status)


DOCUMENTED = {
    ("/webhooks/case-events", "post"): {202, 400, 401, 404, 405, 408, 409, 413, 503},
    ("/webhooks/case-events:batch", "post"): {200, 400, 401, 404, 405, 408, 413, 503},
    ("/api/v1/decisions", "post"): {200, 400, 401, 404, 405, 408, 413, 503},
    ("/api/v1/workers/{ref}/entitlements", "get"): {200, 400, 401, 404, 405, 503},
    ("/api/v1/workers/{ref}/breaches", "get"): {200, 400, 401, 404, 405, 503},
    ("/schemas/events/{type}.json", "get"): {200, 404, 405},
    ("/openapi.json", "get"): {200, 405},
    ("/healthz", "get"): {200, 405},
    ("/readyz", "get"): {200, 405, 503},
    ("/metrics", "get"): {200, 401, 405},
}
"""Every status each route can answer: 408 and 413 where a body is read, 503 where the
database is, 405 for any other method (with its Allow header)."""


async def test_every_status_a_route_can_answer_is_documented_with_its_headers(api: Api) -> None:
    document = await _openapi(api)
    assert set(document["components"]["headers"]) >= {"X-Request-Id", "Allow", "Retry-After"}
    for (path, method), statuses in DOCUMENTED.items():
        responses = document["paths"][path][method]["responses"]
        assert {int(s) for s in responses} == statuses, (path, method)
        for status, response in responses.items():
            named = set(response["headers"])
            for name, header in response["headers"].items():
                assert header == {"$ref": f"#/components/headers/{name}"}, (path, status)
            assert "X-Request-Id" in named, (path, status)
            assert ("Allow" in named) == (status == "405"), (path, status)
            assert ("Retry-After" in named) == (status == "503"), (path, status)
            if not status.startswith("2"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)
