"""The aiohttp application: every HTTP route of the product on one port, over the services
`bot.services.bootstrap` built."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import routes_api, routes_case_events, routes_docs
from bot.http_errors import error_middleware
from bot.services import REQUEST_ID, SERVICES, Services

log = logging.getLogger("caseload_bot.http")

MAX_BODY = 256 * 1024
"""No event or decision request comes near this; a larger body is refused with 413."""


def build_app(services: Services) -> web.Application:
    """The application owns `services` from here: its cleanup closes them."""
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware], client_max_size=MAX_BODY
    )
    app[SERVICES] = services
    app.add_routes(routes_case_events.routes)
    app.add_routes(routes_api.routes)
    app.add_routes(routes_docs.routes)

    async def _close(_: web.Application) -> None:
        await services.close()

    app.on_cleanup.append(_close)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer carries an id that also appears in the logs, and nothing personal."""
    request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    response = await handler(request)
    response.headers["X-Request-Id"] = request_id
    return response
