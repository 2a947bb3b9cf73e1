"""What operators and their orchestrator ask: is the process alive (`/healthz`), may it take
traffic (`/readyz`: the database answers and is migrated to this release), and its figures
(`/metrics`, Prometheus). Cheap, unauthenticated unless METRICS_TOKEN is set, and never
anything personal: ids and counts only."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from bot.http_errors import Unauthenticated, problem
from bot.metrics import CONTENT_TYPE
from bot.services import SERVICES

log = logging.getLogger("caseload_bot.ops")

routes = web.RouteTableDef()

READY_TIMEOUT_S = 2.0
"""A database that has not answered by then is as good as unreachable, for readiness."""


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    migration: str
    """The revision the database is at: this release's head."""


@routes.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    """The process answers: nothing else is checked, so a database outage never gets a
    healthy process restarted (that is what /readyz is for)."""
    return web.json_response(Health(status="ok").model_dump())


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            state = await services.schema()
    except Exception as exc:  # whatever kept the answer from us (refused, timed out, denied)
        log.warning("not ready: database unreachable (%s)", type(exc).__name__)
        return _not_ready("database unreachable")
    at = state.current or "none"
    if state.ahead:
        return _not_ready(f"migrations ahead: at {at}, this release knows {state.head}")
    if not state.ready:
        return _not_ready(f"migrations behind: at {at}, need {state.head}")
    return web.json_response(Ready(status="ready", migration=state.head).model_dump())


def _not_ready(reason: str) -> web.Response:
    response = problem(503, "not_ready", reason)
    response.headers["Retry-After"] = "5"
    return response


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    wanted = services.settings.METRICS_TOKEN
    if wanted is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        expected = wanted.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(errors="replace"), expected
        ):
            raise Unauthenticated
    body = await services.metrics.exposition(services.tx, services.now())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
