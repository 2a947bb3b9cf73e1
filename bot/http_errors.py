"""How every deliberate error becomes an HTTP answer: a JSON body, never a stack trace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from bot.http_body import BodyNotDecodable, BodyTimeout, ClientGone
from bot.services import REQUEST_ID
from handlers.errors import (
    Busy,
    CaseloadError,
    Conflict,
    NotFound,
    NotPermitted,
    StorageError,
    TooLarge,
)
from policy import InputError, PolicyError

log = logging.getLogger("caseload_bot.http")

LINGER_S = 2.0
"""After a 408 or an undecodable body, how long what is left of it is read and dropped before
the connection closes: closing on unread bytes sends a reset, which can destroy the 408 before the client
has read it. The client has the 408 and the end of the stream at once either way."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Unauthenticated(Exception):
    """No valid bearer token: 401, whatever else is wrong with the request."""


class Problem(BaseModel):
    """The body of every refusal; the OpenAPI document publishes this model's schema."""

    error: str = Field(description="A short code: invalid, unauthorized, not_found, timeout, ...")
    message: str = Field(description="What was wrong, for a person")
    field: str | SkipJsonSchema[None] = Field(
        default=None, description="Where in the request (400 only)"
    )
    request_id: str | SkipJsonSchema[None] = Field(
        default=None, description="To quote when reporting a 500"
    )


def problem(
    status: int,
    error: str,
    message: str,
    *,
    field: str | None = None,
    request_id: str | None = None,
) -> web.Response:
    body = Problem(error=error, message=message, field=field, request_id=request_id)
    return web.json_response(body.model_dump(exclude_none=True), status=status)


def invalid(field: str, message: str) -> web.Response:
    return problem(400, "invalid", f"{field}: {message}", field=field)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 413:
            return problem(413, "too_large", "the body is larger than this endpoint accepts")
        if exc.status == 404:
            return problem(404, "not_found", exc.reason)
        if exc.status == 405:
            # RFC 9110: a 405 names the methods the resource does allow.
            response = problem(405, "method", exc.reason)
            response.headers["Allow"] = exc.headers["Allow"]
            return response
        raise
    except Unauthenticated:
        response = problem(401, "unauthorized", "send Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="caseload-bot"'
        return response
    except BodyTimeout as exc:
        return await _answer_and_close(
            request, problem(408, "timeout", f"{exc}; send the whole body at once")
        )
    except BodyNotDecodable:
        return await _answer_and_close(
            request, invalid("body", "does not decode as its Content-Encoding says")
        )
    except ClientGone:
        # Routine on a real network: no traceback, and not an error of ours.
        log.info(
            "client closed the connection mid-body request_id=%s route=%s",
            request.get(REQUEST_ID),
            _route(request),
        )
        return problem(400, "incomplete", "the connection closed before the body ended")
    except InputError as exc:
        return invalid(exc.field, exc.message)
    except StorageError as exc:
        message = "the database is busy; nothing was changed, try again"
        if not isinstance(exc, Busy):
            log.warning("storage unavailable request_id=%s: %s", request.get(REQUEST_ID), exc)
            message = "the database is unavailable; nothing was changed, try again later"
        response = problem(503, "busy" if isinstance(exc, Busy) else "unavailable", message)
        response.headers["Retry-After"] = "2"
        return response
    except TooLarge as exc:
        return problem(413, "too_large", str(exc))
    except NotFound as exc:
        return problem(404, "not_found", str(exc))
    except Conflict as exc:
        return problem(409, "conflict", str(exc))
    except NotPermitted as exc:
        return problem(403, "not_permitted", str(exc))
    except (CaseloadError, PolicyError) as exc:
        return problem(400, "invalid", str(exc))
    except Exception:
        # Logged with the request id and route only: bodies may hold case references.
        log.exception(
            "unhandled error request_id=%s route=%s", request.get(REQUEST_ID), _route(request)
        )
        return problem(
            500,
            "internal",
            "the server could not complete this request",
            request_id=request.get(REQUEST_ID),
        )


async def _answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Answer, then close within LINGER_S: aiohttp would go on reading what is left of the
    body for ten seconds (its lingering close), or log a body it cannot decode as an error."""
    response.force_close()
    with contextlib.suppress(ConnectionError, TimeoutError, web.RequestPayloadError):
        await response.prepare(request)
        await response.write_eof()
        if request.transport is not None:
            request.transport.write_eof()
        async with asyncio.timeout(LINGER_S):
            while await request.content.readany():
                pass
    request.protocol.force_close()
    return response


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource else "-"
