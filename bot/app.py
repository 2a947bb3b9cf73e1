"""The aiohttp application: every HTTP route of the product on one port, over the services
`bot.services.bootstrap` built."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gc
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import logs, routes_api, routes_case_events, routes_docs, routes_ops
from bot.http_body import MAX_BODY
from bot.http_errors import error_middleware
from bot.services import REQUEST_ID, SERVICES, Services
from bot.slack import route as slack_route
from bot.teams import route as teams_route
from bot.tryout import route as tryout_route
from policy.calendar import is_working_day

log = logging.getLogger("caseload_bot.http")
access_log = logging.getLogger("caseload_bot.access")


def build_app(services: Services) -> web.Application:
    """The application owns `services` from here: its cleanup closes them."""
    app = web.Application(
        middlewares=[request_id_middleware, observe_middleware, error_middleware],
        client_max_size=MAX_BODY,
    )
    app[SERVICES] = services
    app.on_response_prepare.append(_send_request_id)
    app.add_routes(routes_case_events.routes)
    app.add_routes(routes_api.routes)
    app.add_routes(routes_docs.routes)
    app.add_routes(routes_ops.routes)
    _add_slack(app, services)
    _add_teams(app, services)
    _add_tryout(app, services)

    async def _close(_: web.Application) -> None:
        await services.close()

    app.on_startup.append(_freeze)
    app.on_cleanup.append(_close)
    return app


async def _freeze(_: web.Application) -> None:
    _freeze_once()


@functools.cache
def _freeze_once() -> None:
    """What the process built before serving (its modules, SQLAlchemy's mappers, bolt,
    aiohttp, pydantic's schemas: most of its objects) lives as long as it does. Frozen, the
    collector no longer walks it: a full collection otherwise stalled every request in
    flight for up to 100 ms (the p99 of a check). Once per process (tests build many apps).

    England's bank holidays are worked out here too, for this year and the next: on first
    use they took 0.6 s of the loop, so the first breach alert stalled every request."""
    this_year = dt.datetime.now(dt.UTC).year
    for year in (this_year, this_year + 1):
        is_working_day(dt.date(year, 1, 1))
    gc.collect()
    gc.freeze()


def _add_slack(app: web.Application, services: Services) -> None:
    """/slack/events in HTTP mode; Socket Mode dials out when the server starts."""
    slack = services.slack
    if slack is None:
        log.info("Slack is not configured (SLACK_BOT_TOKEN unset): no /slack/events")
        return
    if "HTTP" in services.settings.slack_modes:
        app.add_routes(slack_route.routes)

    async def _start(_: web.Application) -> None:
        await slack.start()

    app.on_startup.append(_start)


def _add_teams(app: web.Application, services: Services) -> None:
    """/api/messages only with a client id, or anonymous when explicitly allowed."""
    if services.teams is None:
        log.info(
            "Teams is not configured: /api/messages is not mounted (set"
            " CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID, or TEAMS_ALLOW_ANONYMOUS=true"
            " for a local try-out)"
        )
        return
    if services.settings.teams_mode == "anonymous":
        log.warning("Teams is anonymous (TEAMS_ALLOW_ANONYMOUS=true): for local try-out only")
    teams_route.mount(app, services.teams)


def _add_tryout(app: web.Application, services: Services) -> None:
    """/try only in demo mode (`serve --demo`), over the demo organisation it seeds."""
    if services.tryout is not None:
        tryout_route.mount(app, services)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer carries an id that also appears in the logs, and nothing personal.

    The caller's own id is kept when it is a plain token; anything else (spaces that would
    split a log line, bytes that are not UTF-8) is replaced, never echoed.
    """
    sent = request.headers.get("X-Request-Id", "")[:64]
    request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    token = logs.REQUEST_ID.set(request_id)  # for every log line written while serving it
    try:
        return await handler(request)
    finally:
        logs.REQUEST_ID.reset(token)


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One access log line and one latency observation per request, under the route's
    pattern (`/api/v1/workers/{ref}/breaches`), never the path: a path may hold a case or
    worker reference, and every distinct path would be a metric series of its own."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away before an answer
        raise
    finally:
        seconds = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[SERVICES].metrics.answered(route, status, seconds)
        access_log.info(
            "%s %s %d",
            request.method,
            route,
            status,
            extra={
                "method": request.method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            },
        )


async def _send_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """At send time, so that answers sent early (a 408 that then closes) carry it too."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers["X-Request-Id"] = request_id
