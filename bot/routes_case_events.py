"""`POST /webhooks/case-events`: the case-management system's events, signed per the
Standard Webhooks specification.

Order of checks: signature (401), body (400), organisation (404), prerequisites (409);
each refusal changes nothing. 202 is sent only after the event's transaction commits.
An organisation with secrets of its own (`caseload-bot org secret`) is accepted only with
them; the others with the deployment's CASE_EVENTS_SECRET.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from aiohttp import web

from bot.http_body import read_body
from bot.http_errors import invalid, problem
from bot.services import SERVICES
from bot.webhook_signature import SignatureError, WebhookSecrets, verify
from handlers.case_events import apply_event, org_secrets
from handlers.events import claimed_org, parse_event

log = logging.getLogger("caseload_bot.case_events")
routes = web.RouteTableDef()


@routes.post("/webhooks/case-events")
async def case_events(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_body(request)
    now = services.now()
    org = claimed_org(body)
    secrets = await org_secrets(services.tx, org, now) if org is not None else ()
    fallback = services.settings.CASE_EVENTS_SECRET
    if not secrets and fallback is not None:
        secrets = (fallback.get_secret_value(),)
    if not secrets:
        return problem(
            401,
            "unsigned",
            "no secret verifies this event: set CASE_EVENTS_SECRET, or give the organisation"
            " its own with `caseload-bot org secret`",
        )
    try:
        verify(body, request.headers, _keys(secrets), now)
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
    applied = await apply_event(services.tx, delivery_id, event, now)
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


@lru_cache(maxsize=256)
def _keys(secrets: tuple[str, ...]) -> WebhookSecrets:
    """Each set of secrets decoded once, not on every event (they change a few times a year)."""
    return WebhookSecrets.parse(secrets)


def _is_utf8(header: str) -> bool:
    """aiohttp keeps header bytes that are not UTF-8 as surrogates, which no database stores."""
    try:
        header.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
