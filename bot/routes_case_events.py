"""`POST /webhooks/case-events` and `POST /webhooks/case-events:batch`: the case-management
system's events, signed per the Standard Webhooks specification.

Order of checks: signature (401), body (400), organisation (404), prerequisites (409);
each refusal changes nothing. 202 is sent only after the event's transaction commits.
An organisation with secrets of its own (`caseload-bot org secret`) is accepted only with
them; the others with the deployment's CASE_EVENTS_SECRET. A batch is signed once, as a
whole, and answers 200 with one result per event.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache

from aiohttp import web
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from bot.http_body import MAX_BATCH_BODY, read_body
from bot.http_errors import invalid, problem
from bot.services import SERVICES, Services
from bot.webhook_signature import SignatureError, WebhookSecrets, verify
from handlers.case_events import (
    Applied,
    EventStatus,
    Outcome,
    apply_batch,
)
from handlers.errors import StorageError
from handlers.events import claimed_org, parse_batch, parse_event
from policy import InputError

log = logging.getLogger("caseload_bot.case_events")
routes = web.RouteTableDef()


@routes.post("/webhooks/case-events")
async def case_events(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_body(request)
    now = services.now()
    text = await _verified(request, body, now)
    if isinstance(text, web.Response):
        return text
    delivery_id = request.headers["webhook-id"]
    event = parse_event(text)
    applied = await services.events.apply(delivery_id, event, now)
    opened, resolved = _breaches(applied)
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


class EventError(BaseModel):
    field: str | SkipJsonSchema[None] = Field(
        default=None, description="Where in the event (`data.children`), when it is its content"
    )
    message: str = Field(description="Why, for a person")


class EventResult(BaseModel):
    """One event's outcome; the counts are there once it was accepted or a duplicate."""

    id: str = Field(description="The event's `id`, as sent")
    status: EventStatus = Field(
        description="accepted: committed. duplicate: this id was received before (singly or"
        " in a batch); nothing changed. refused: `error` says why; resending it unchanged is"
        " refused again. not_yet_known: it refers to a case or allocation whose own event has"
        " not arrived; send it again later. not_attempted: the database stayed busy before its"
        " turn; send it again"
    )
    changed: bool | SkipJsonSchema[None] = Field(
        default=None, description="False when the event was older than the state it would change"
    )
    breaches_opened: int | SkipJsonSchema[None] = None
    breaches_resolved: int | SkipJsonSchema[None] = None
    error: EventError | SkipJsonSchema[None] = None


class BatchAnswer(BaseModel):
    results: list[EventResult] = Field(description="One per event, in the order sent")


@routes.post("/webhooks/case-events:batch")
async def case_events_batch(request: web.Request) -> web.Response:
    """Thin like the single route: the batch's shape and the events' order are the use
    case's (`parse_batch`, `apply_batch`)."""
    services = request.app[SERVICES]
    body = await read_body(request, MAX_BATCH_BODY)
    now = services.now()
    text = await _verified(request, body, now)
    if isinstance(text, web.Response):
        return text
    batch = parse_batch(text)
    outcomes = await apply_batch(services.tx, batch, now)
    results = [_result(outcome) for outcome in outcomes]
    for outcome, result in zip(outcomes, results, strict=True):
        log.info(
            "batch event org=%s batch=%s delivery=%s type=%s status=%s field=%s changed=%s"
            " breaches_opened=%s breaches_resolved=%s",
            batch.org,
            request.headers["webhook-id"],
            result.id,
            getattr(outcome.delivery.event, "type", "-"),
            result.status,
            result.error.field if result.error is not None else "-",
            result.changed,
            result.breaches_opened,
            result.breaches_resolved,
        )
    answer = BatchAnswer(results=results)
    return web.json_response(answer.model_dump(mode="json", exclude_none=True))


def _result(outcome: Outcome) -> EventResult:
    applied, error = outcome.applied, outcome.error
    opened, resolved = _breaches(applied) if applied is not None else (None, None)
    return EventResult(
        id=outcome.delivery.id,
        status=outcome.status,
        changed=applied.changed if applied is not None else None,
        breaches_opened=opened,
        breaches_resolved=resolved,
        error=None if error is None else _error(error),
    )


def _error(error: Exception) -> EventError:
    if isinstance(error, InputError):
        return EventError(field=error.field, message=error.message)
    if isinstance(error, StorageError):
        # Not the error's own text: an unreachable database's may name its host.
        return EventError(
            message="the database stayed busy or unavailable before this event's turn, so it"
            " changed nothing: send it again"
        )
    return EventError(message=str(error))


def _breaches(applied: Applied) -> tuple[int, int]:
    """Breaches the event opened and resolved."""
    opened = sum(1 for c in applied.breach_changes if c.change == "opened")
    return opened, len(applied.breach_changes) - opened


async def _verified(request: web.Request, body: bytes, now: dt.datetime) -> str | web.Response:
    """The body as text once the delivery's signature holds; otherwise the refusal (401, or
    400 for a `webhook-id` the store cannot keep or a body that is not UTF-8)."""
    services = request.app[SERVICES]
    org = claimed_org(body)
    secrets = await _secrets(services, org, now)
    if secrets is None:
        return problem(
            401,
            "unsigned",
            "no secret verifies this event: set CASE_EVENTS_SECRET, or give the organisation"
            " its own with `caseload-bot org secret`",
        )
    try:
        try:
            verify(body, request.headers, _keys(secrets), now)
        except SignatureError:
            # A secret set since these were read verifies at once.
            fresh = await _secrets(services, org, now, fresh=True)
            if fresh is None or fresh == secrets:
                raise
            verify(body, request.headers, _keys(fresh), now)
    except SignatureError as exc:
        return problem(401, "signature", f"the webhook signature does not verify: {exc}")
    # Only now that the signature holds over the raw bytes: what those bytes say.
    delivery_id = request.headers["webhook-id"]
    if len(delivery_id) > 200:
        return invalid("webhook-id", "at most 200 characters")
    if not _is_utf8(delivery_id):
        return invalid("webhook-id", "is not UTF-8 text")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return invalid(
            "body", f"the body is not UTF-8 JSON (the byte at offset {exc.start} is not UTF-8)"
        )


async def _secrets(
    services: Services, org: str | None, now: dt.datetime, *, fresh: bool = False
) -> tuple[str, ...] | None:
    """What may sign for `org`: its own secrets, else the deployment's; None if neither."""
    own = await services.secrets.get(org, now, fresh=fresh) if org is not None else ()
    if own:
        return own
    fallback = services.settings.CASE_EVENTS_SECRET
    return None if fallback is None else (fallback.get_secret_value(),)


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
