"""`POST /webhooks/case-events`: the case-management system's events, signed per the
Standard Webhooks specification.

Order of checks: signature (401), body (400), organisation (404), prerequisites (409);
each refusal changes nothing. 202 is sent only after the event's transaction commits.
"""

from __future__ import annotations

import datetime as dt
import logging

from aiohttp import web

from bot.http_errors import invalid, problem
from bot.services import SERVICES
from bot.webhook_signature import SignatureError, verify
from handlers.case_events import apply_event
from handlers.events import parse_event
from storage.db import retry_transient

log = logging.getLogger("caseload_bot.case_events")
routes = web.RouteTableDef()


@routes.post("/webhooks/case-events")
async def case_events(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await request.read()
    if services.webhook_secrets is None:
        return problem(
            401, "unsigned", "this server has no CASE_EVENTS_SECRET; it accepts no events"
        )
    try:
        verify(body, request.headers, services.webhook_secrets, dt.datetime.now(dt.UTC))
    except SignatureError as exc:
        return problem(401, "signature", f"the webhook signature does not verify: {exc}")
    # Only now that the signature holds over the raw bytes: what those bytes say.
    delivery_id = request.headers["webhook-id"]
    if len(delivery_id) > 200:
        return invalid("webhook-id", "at most 200 characters")
    if not _is_utf8(delivery_id):
        return invalid("webhook-id", "is not UTF-8 text")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return invalid(
            "body", f"the body is not UTF-8 JSON (the byte at offset {exc.start} is not UTF-8)"
        )
    event = parse_event(text)
    applied = await retry_transient(lambda: apply_event(services.storage, delivery_id, event))
    opened = sum(1 for c in applied.breach_changes if c.change == "opened")
    resolved = len(applied.breach_changes) - opened
    log.info(
        "event type=%s org=%s delivery=%s duplicate=%s changed=%s breaches_opened=%d breaches_resolved=%d",
        event.type,
        event.org,
        delivery_id,
        applied.duplicate,
        applied.changed,
        opened,
        resolved,
    )
    return web.json_response(
        {
            "status": "accepted",
            "duplicate": applied.duplicate,
            "changed": applied.changed,
            "breaches_opened": opened,
            "breaches_resolved": resolved,
        },
        status=202,
    )


def _is_utf8(header: str) -> bool:
    """aiohttp keeps header bytes that are not UTF-8 as surrogates, which no database stores."""
    try:
        header.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
