"""What an integrator reads: the OpenAPI document of every route (the operators' routes of
`bot.routes_ops` included) and the JSON Schema of every case event."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from bot.http_body import MAX_BATCH_BODY, MAX_BODY
from bot.http_errors import Problem
from bot.routes_api import (
    BREACHES_ANSWER,
    DECISION_ANSWER,
    ENTITLEMENTS_ANSWER,
    ApiQuery,
    DecisionBody,
    EntitlementsQuery,
    WorkerPath,
)
from bot.routes_case_events import BatchAnswer
from bot.routes_ops import Health, Ready
from handlers.events import EVENT_TYPES, MAX_BATCH_EVENTS, BatchShape, event_schemas

routes = web.RouteTableDef()


@routes.get("/openapi.json")
async def openapi(_: web.Request) -> web.Response:
    return web.json_response(openapi_document())


@routes.get("/schemas/events/{type}.json")
async def event_schema(request: web.Request) -> web.Response:
    name = request.match_info["type"]
    schemas = event_schemas()
    if name not in schemas:
        raise web.HTTPNotFound(reason=f"no event type {name!r}; known: {', '.join(schemas)}")
    return web.json_response(schemas[name])


REF = "#/components/schemas/{model}"


def _schema(
    source: type[BaseModel] | TypeAdapter[Any], schemas: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """The JSON Schema of a model or type, its nested definitions moved into `schemas`,
    where every `$ref` points."""
    adapter = source if isinstance(source, TypeAdapter) else TypeAdapter(source)
    schema = adapter.json_schema(ref_template=REF, **options)
    for name, definition in schema.pop("$defs", {}).items():
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are both named {name}")
    return schema


def _parameters(model: type[BaseModel], where: str) -> list[dict[str, Any]]:
    """OpenAPI parameters from the model that validates them, so the two cannot drift.

    A query string has no null: an optional parameter is one that may be left out.
    """
    schema = model.model_json_schema(ref_template=REF)
    out = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description")
        if prop.get("default", ...) is None:
            del prop["default"]
            prop["anyOf"] = [s for s in prop["anyOf"] if s != {"type": "null"}]
            if len(prop["anyOf"]) == 1:
                prop.update(prop.pop("anyOf")[0])
        required = name in schema.get("required", ())
        out.append(
            {"name": name, "in": where, "required": required, "description": description}
            | {"schema": prop}
        )
    return out


def _answer(
    description: str, schema: dict[str, Any], headers: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {h: {"$ref": f"#/components/headers/{h}"} for h in ("X-Request-Id", *headers)},
        "content": {"application/json": {"schema": schema}},
    }


def _error(description: str, *headers: str) -> dict[str, Any]:
    return _answer(description, {"$ref": "#/components/schemas/Error"}, headers)


_OBJECT: dict[str, Any] = {"type": "object"}

_405 = _error("Not a method of this path; `Allow` lists those it has", "Allow")
_503 = _error("The database is busy or unreachable; nothing changed, try again", "Retry-After")
_BODY_ERRORS = {
    "408": _error(
        "The body did not arrive within BODY_READ_TIMEOUT_S (10 s unless set); "
        "the connection is closed"
    ),
    "413": _error(f"The body is over {MAX_BODY // 1024} KiB"),
}
_API_ERRORS = {
    "401": _error("No valid bearer token", "WWW-Authenticate"),
    "404": _error(
        "Unknown organisation or worker, including another organisation's: `?org=` or "
        "`org` naming any but the token's own"
    ),
    "405": _405,
    "503": _503,
}


def _batch_schema(event_names: list[str], schemas: dict[str, Any]) -> dict[str, Any]:
    """`BatchShape`'s schema with each event spelled out: every event type's own schema,
    with the batch's `id` in place of `org` (which the batch gives once)."""
    shape = BatchShape.model_json_schema(ref_template=REF)
    delivery_id = shape.pop("$defs")["Identified"]["properties"]["id"]
    delivery_id["description"] = (
        "This event's delivery id, as `webhook-id` is for one event: an id received before,"
        " singly or in a batch, is a duplicate and changes nothing"
    )
    refs = []
    for name in event_names:
        item = copy.deepcopy(schemas[name])
        item["title"] = f"{name} in a batch"
        item["properties"] = {"id": delivery_id} | {
            key: value for key, value in item["properties"].items() if key != "org"
        }
        item["required"] = ["id", *(key for key in item["required"] if key != "org")]
        schemas[f"Batched{name}"] = item
        refs.append({"$ref": f"#/components/schemas/Batched{name}"})
    shape["properties"]["events"]["items"] = {
        "oneOf": refs,
        "discriminator": {"propertyName": "type"},
    }
    return shape


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": schema or {"type": "string"}}


@cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    schemas["Error"] = _schema(Problem, schemas)
    schemas["DecisionRequest"] = _schema(DecisionBody, schemas)
    schemas["Health"] = _schema(Health, schemas)
    schemas["Ready"] = _schema(Ready, schemas)
    decision = _schema(DECISION_ANSWER, schemas)
    entitled = _schema(ENTITLEMENTS_ANSWER, schemas)
    breaches = _schema(BREACHES_ANSWER, schemas)
    event_refs = []
    for model in EVENT_TYPES.values():
        schemas[model.__name__] = _schema(model, schemas, by_alias=True)
        event_refs.append({"$ref": f"#/components/schemas/{model.__name__}"})
    schemas["EventBatch"] = _batch_schema([m.__name__ for m in EVENT_TYPES.values()], schemas)
    batch_answer = _schema(BatchAnswer, schemas)
    signed = [
        {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
        for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ]
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    request_id = {
        "name": "X-Request-Id",
        "in": "header",
        "required": False,
        "description": "Your id for this request, kept when it is 1-64 of A-Z a-z 0-9 . _ : - "
        "(otherwise one is made); it is in the answer and the logs",
        "schema": {"type": "string"},
    }
    worker = _parameters(WorkerPath, "path")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "caseload-bot",
            "version": "1",
            "description": "Protected caseloads for newly qualified social workers: case events in, "
            "decisions out. Every answer is JSON and carries X-Request-Id; refusals have the "
            "`Error` shape. A 500 is never intended: report it with its `request_id`.",
        },
        "paths": {
            "/webhooks/case-events": {
                "post": {
                    "summary": "Receive one case-management event (Standard Webhooks signed)",
                    "parameters": [*signed, request_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": event_refs,
                                    "discriminator": {"propertyName": "type"},
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": _answer(
                            "Committed (or a redelivery, acknowledged and ignored)", _OBJECT
                        ),
                        "400": _error("The body is not a valid event; `field` says where"),
                        "401": _error("Unsigned, wrongly signed or stale (over 5 minutes)"),
                        "404": _error("Unknown organisation"),
                        "405": _405,
                        "409": _error(
                            "Refers to a case or allocation not yet known; redeliver later"
                        ),
                        **_BODY_ERRORS,
                        "503": _503,
                    },
                }
            },
            "/webhooks/case-events:batch": {
                "post": {
                    "summary": "Receive several case-management events in one request, signed"
                    " once as a whole (Standard Webhooks); each is applied in order, in its own"
                    " transaction, and answered in its own result",
                    "parameters": [*signed, request_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/EventBatch"}
                            }
                        },
                    },
                    "responses": {
                        "200": _answer(
                            "One result per event, in the order sent: the events accepted are"
                            " committed whatever became of the others",
                            batch_answer,
                        ),
                        "400": _error(
                            "The batch as a whole is not valid: not JSON, not the shape, an"
                            " event without a valid `id`, or an `id` twice; `field` says where."
                            " Nothing changed"
                        ),
                        "401": _error("Unsigned, wrongly signed or stale (over 5 minutes)"),
                        "404": _error("Unknown organisation"),
                        "405": _405,
                        "408": _BODY_ERRORS["408"],
                        "413": _error(
                            f"The body is over {MAX_BATCH_BODY // 1024} KiB, or holds more than"
                            f" {MAX_BATCH_EVENTS} events: send them in several requests"
                        ),
                        "503": _error(
                            "The database is busy or unreachable before any event was applied;"
                            " nothing changed, try again (once some are applied, the answer is"
                            " 200 and the rest are `not_attempted`)",
                            "Retry-After",
                        ),
                    },
                }
            },
            "/api/v1/decisions": {
                "post": {
                    "summary": "Decide a proposed allocation on the stored caseload (logged)",
                    "security": bearer,
                    "parameters": [*_parameters(ApiQuery, "query"), request_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/DecisionRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": _answer(
                            "The decision, as `caseload-bot policy decide` writes it, or "
                            "`asye: false` for a worker the policy does not apply to",
                            decision,
                        ),
                        "400": _error("Invalid request; `field` says where"),
                        **_API_ERRORS,
                        **_BODY_ERRORS,
                    },
                }
            },
            "/api/v1/workers/{ref}/entitlements": {
                "get": {
                    "summary": "What this worker may hold on a date",
                    "security": bearer,
                    "parameters": [
                        *worker,
                        *_parameters(EntitlementsQuery, "query"),
                        request_id,
                    ],
                    "responses": {
                        "200": _answer(
                            "Entitlements, or `asye: false` for a worker the policy does not "
                            "apply to",
                            entitled,
                        ),
                        "400": _error("A malformed `ref`, `on` or `org`; `field` says which"),
                        **_API_ERRORS,
                    },
                }
            },
            "/api/v1/workers/{ref}/breaches": {
                "get": {
                    "summary": "The worker's open breaches, with clause and remedy",
                    "security": bearer,
                    "parameters": [*worker, *_parameters(ApiQuery, "query"), request_id],
                    "responses": {
                        "200": _answer("Open breaches", breaches),
                        "400": _error("A malformed `ref` or `org`; `field` says which"),
                        **_API_ERRORS,
                    },
                }
            },
            "/schemas/events/{type}.json": {
                "get": {
                    "summary": "The JSON Schema of one case event type",
                    "parameters": [
                        {
                            "name": "type",
                            "in": "path",
                            "required": True,
                            "schema": {"enum": list(EVENT_TYPES)},
                        },
                        request_id,
                    ],
                    "responses": {
                        "200": _answer("JSON Schema", _OBJECT),
                        "404": _error("Unknown event type"),
                        "405": _405,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "parameters": [request_id],
                    "responses": {"200": _answer("OpenAPI 3.1", _OBJECT), "405": _405},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness: the process answers (the database is not asked)",
                    "parameters": [request_id],
                    "responses": {
                        "200": _answer("ok", {"$ref": "#/components/schemas/Health"}),
                        "405": _405,
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: the database answers and is migrated to this release",
                    "parameters": [request_id],
                    "responses": {
                        "200": _answer("Ready", {"$ref": "#/components/schemas/Ready"}),
                        "405": _405,
                        "503": _error(
                            "Not ready: `message` is `database unreachable` or `migrations "
                            "behind: at X, need Y`",
                            "Retry-After",
                        ),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (ids and counts only); a bearer token when "
                    "METRICS_TOKEN is set",
                    "parameters": [request_id],
                    "responses": {
                        "200": {
                            "description": "The Prometheus text format, version 0.0.4",
                            "headers": {
                                "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}
                            },
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "401": _error(
                            "METRICS_TOKEN is set and the bearer token is not it",
                            "WWW-Authenticate",
                        ),
                        "405": _405,
                    },
                }
            },
        },
        "components": {
            "schemas": schemas,
            "headers": {
                "X-Request-Id": _header("This request's id, as the logs name it"),
                "Allow": _header("The methods this path has"),
                "WWW-Authenticate": _header('Bearer realm="caseload-bot"'),
                "Retry-After": _header(
                    "Seconds to wait", {"type": "string", "pattern": "^[0-9]+$"}
                ),
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "caseload-bot token create --org ORG",
                }
            },
        },
    }
