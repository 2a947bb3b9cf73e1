"""How every deliberate error becomes an HTTP answer: a JSON body, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.services import REQUEST_ID
from handlers.errors import (
    Busy,
    CaseloadError,
    Conflict,
    NotFound,
    NotPermitted,
    StorageError,
)
from policy import InputError, PolicyError

log = logging.getLogger("caseload_bot.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(status: int, error: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": error, "message": message, **extra}, status=status)


def invalid(field: str, message: str) -> web.Response:
    return problem(400, "invalid", f"{field}: {message}", field=field)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 413:
            return problem(413, "too_large", "the body is larger than this endpoint accepts")
        if exc.status in (404, 405):
            return problem(exc.status, "not_found" if exc.status == 404 else "method", exc.reason)
        raise
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
            "unhandled error request_id=%s route=%s",
            request.get(REQUEST_ID),
            request.match_info.route.resource.canonical
            if request.match_info.route.resource
            else "-",
        )
        return problem(
            500,
            "internal",
            "the server could not complete this request",
            request_id=request.get(REQUEST_ID),
        )
