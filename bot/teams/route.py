"""`POST /api/messages`: the Bot Connector's requests, authorised by the SDK's JWT check
(401 for a missing, malformed or wrong token; anonymous only when so configured) and
processed by the `CloudAdapter`."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import web
from microsoft_agents.hosting.aiohttp import jwt_authorization_decorator
from pydantic import ValidationError

from bot.teams.agent import TeamsEdge

log = logging.getLogger("caseload_bot.teams")

TEAMS: web.AppKey[TeamsEdge] = web.AppKey("teams", TeamsEdge)

# The SDK's JWT middleware keeps the caller's claims under a plain string key of the request
# (where its CloudAdapter reads them), which aiohttp warns about on every request: the SDK's
# choice, not ours, so that one warning from that one module is silenced (pyproject.toml
# does the same for the tests).
warnings.filterwarnings(
    "ignore",
    message="It is recommended to use web.RequestKey instances for keys",
    category=web.NotAppKeyWarning,
    module="microsoft_agents.hosting.aiohttp.jwt_authorization_middleware",
)

_SDK_CONFIGURATION = "agent_configuration"
"""The string key under which the SDK's JWT middleware looks for its configuration."""


def mount(app: web.Application, edge: TeamsEdge) -> None:
    app[TEAMS] = edge
    with warnings.catch_warnings():
        # The SDK reads its configuration from `request.app` by this plain string key;
        # aiohttp warns about string keys (it prefers AppKey), which the SDK cannot use.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app[_SDK_CONFIGURATION] = edge.auth
    app.router.add_post("/api/messages", messages)


async def _messages(request: web.Request) -> web.StreamResponse:
    edge = request.app[TEAMS]
    try:
        response = await edge.adapter.process(request, edge.agent)
    except ValidationError:
        return web.json_response(
            {"error": "body", "message": "not a Bot Framework activity"}, status=400
        )
    return response if response is not None else web.Response(status=202)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
messages = cast(Handler, jwt_authorization_decorator(_messages))  # type: ignore[no-untyped-call]
"""The SDK's JWT check in front: 401 before the adapter sees anything unauthorised."""
