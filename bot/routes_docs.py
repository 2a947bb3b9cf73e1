"""What an integrator reads: the OpenAPI document of every route, the JSON Schema of every
case event, and a health check for the council's monitoring."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from bot.routes_api import DecisionBody
from bot.services import SERVICES
from handlers.events import EVENT_TYPES, event_schemas

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


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    await request.app[SERVICES].tx.ping()
    return web.json_response({"status": "ok"})


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_JSON_OK: dict[str, Any] = {"content": {"application/json": {"schema": {"type": "object"}}}}


@cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        },
        "DecisionRequest": DecisionBody.model_json_schema(
            ref_template="#/components/schemas/{model}"
        ),
    }
    event_refs = []
    for model in EVENT_TYPES.values():
        schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        event_refs.append({"$ref": f"#/components/schemas/{model.__name__}"})
    schemas.update(schemas["DecisionRequest"].pop("$defs", {}))
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    worker = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "caseload-bot",
            "version": "1",
            "description": "Protected caseloads for newly qualified social workers: case events in, decisions out.",
        },
        "paths": {
            "/webhooks/case-events": {
                "post": {
                    "summary": "Receive one case-management event (Standard Webhooks signed)",
                    "parameters": [
                        {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                        for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
                    ],
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
                        "202": {
                            "description": "Committed (or a redelivery, acknowledged and ignored)",
                            **_JSON_OK,
                        },
                        "400": _error("The body is not a valid event; `field` says where"),
                        "401": _error("Unsigned, wrongly signed or stale (over 5 minutes)"),
                        "404": _error("Unknown organisation"),
                        "409": _error(
                            "Refers to a case or allocation not yet known; redeliver later"
                        ),
                        "413": _error("Body too large"),
                        "503": _error("Database busy; nothing changed, redeliver"),
                    },
                }
            },
            "/api/v1/decisions": {
                "post": {
                    "summary": "Decide a proposed allocation on the stored caseload (logged)",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/DecisionRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The decision, as `caseload-bot policy decide` writes it",
                            **_JSON_OK,
                        },
                        "400": _error("Invalid request; `field` says where"),
                        "401": _error("No valid bearer token"),
                        "404": _error(
                            "Unknown organisation or worker (including another organisation's)"
                        ),
                    },
                }
            },
            "/api/v1/workers/{ref}/entitlements": {
                "get": {
                    "summary": "What this worker may hold on a date (default today, Europe/London)",
                    "security": bearer,
                    "parameters": [
                        worker,
                        {
                            "name": "on",
                            "in": "query",
                            "schema": {"type": "string", "format": "date"},
                        },
                    ],
                    "responses": {
                        "200": {"description": "Entitlements", **_JSON_OK},
                        "401": _error("No valid bearer token"),
                        "404": _error("Unknown worker"),
                    },
                }
            },
            "/api/v1/workers/{ref}/breaches": {
                "get": {
                    "summary": "The worker's open breaches, with clause and remedy",
                    "security": bearer,
                    "parameters": [worker],
                    "responses": {
                        "200": {"description": "Open breaches", **_JSON_OK},
                        "401": _error("No valid bearer token"),
                        "404": _error("Unknown worker"),
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
                        }
                    ],
                    "responses": {
                        "200": {"description": "JSON Schema", **_JSON_OK},
                        "404": _error("Unknown event type"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1", **_JSON_OK}},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness, with a database round trip",
                    "responses": {"200": {"description": "ok", **_JSON_OK}},
                }
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "caseload-bot token create --org ORG",
                }
            },
        },
    }
