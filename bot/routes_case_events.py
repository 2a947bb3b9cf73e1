"""`POST /webhooks/case-events`: the case-management system's events, signed per the
Standard Webhooks specification.

Order of checks: signature (401), body (400), organisation (404), prerequisites (409);
each refusal changes nothing. 202 is sent only after the event's transaction commits.
"""

from __future__ import annotations

import binascii
import logging

from aiohttp import web
from standardwebhooks.webhooks import WebhookVerificationError

from bot.http_body import read_body
from bot.http_errors import problem
from bot.services import SERVICES
from handlers.case_events import apply_event
from handlers.events import parse_event
from storage.db import retry_transient

log = logging.getLogger("caseload_bot.case_events")
routes = web.RouteTableDef()


@routes.post("/webhooks/case-events")
async def case_events(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_body(request)
    if services.webhook is None:
        return problem(
            401, "unsigned", "this server has no CASE_EVENTS_SECRET; it accepts no events"
        )
    headers = {
        k: request.headers.get(k, "")
        for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    try:
        services.webhook.verify(body, headers, json_parse=False)
    except (WebhookVerificationError, ValueError, binascii.Error) as exc:
        return problem(401, "signature", f"the webhook signature does not verify: {_reason(exc)}")
    delivery_id = headers["webhook-id"]
    if len(delivery_id) > 200:
        return problem(400, "invalid", "webhook-id: at most 200 characters", field="webhook-id")
    event = parse_event(body)
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


def _reason(exc: Exception) -> str:
    if isinstance(exc, WebhookVerificationError):
        return str(exc).lower()
    if isinstance(exc, UnicodeDecodeError):
        return "the body is not UTF-8"
    return "malformed signature header"
