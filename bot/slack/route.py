"""POST /slack/events: Slack's one request URL in HTTP mode (slash commands, events and
interactivity).

The signature is checked here, before anything reads the body, rather than by bolt's own
middleware (switched off): bolt parses the body first, and its check raises on a timestamp
that is not a number, which an unsigned sender could use to reach our error handler. A
request Slack did not sign is a 401 that says nothing of why. Past that, the two translations
of bolt's own aiohttp adapter, with the body time limit every route has.
"""

from __future__ import annotations

import re

from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.http_body import read_body
from bot.http_errors import invalid, problem
from bot.services import SERVICES

routes = web.RouteTableDef()


@routes.post("/slack/events")
async def slack_events(request: web.Request) -> web.Response:
    edge = request.app[SERVICES].slack
    assert edge is not None and edge.verifier is not None, "added in HTTP mode only"
    raw = await read_body(request)
    try:
        body = raw.decode()
        signed = edge.verifier.is_valid(
            body,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
        )
    except ValueError:  # not UTF-8, or a timestamp that is not a number: not from Slack
        signed = False
    if not signed:
        return problem(401, "unauthorized", "not signed by Slack for this app")
    try:
        bolt_request = AsyncBoltRequest(
            body=body, query=request.query_string, headers=dict(request.headers)
        )
    except (ValueError, TypeError, AttributeError):
        # Not JSON where JSON was due, or JSON that is not an object.
        return invalid("body", "not a Slack request (form fields, or a JSON object)")
    return to_aiohttp(await edge.dispatch(bolt_request))


def to_aiohttp(answer: BoltResponse) -> web.Response:
    content_type = answer.headers.get("content-type", ["text/plain"])[0]
    return web.Response(
        status=answer.status,
        body=answer.body.encode(),
        content_type=re.sub(r";.*", "", content_type),
    )
