"""Every route that takes a body reads it here, so one time limit covers them all.

Without a limit a client that sends its headers and part of a body holds its connection,
and a file descriptor, for as long as it likes: a few hundred of them starve the server.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.services import SERVICES

MAX_BODY = 256 * 1024
"""No event or decision request comes near this; a larger body is refused with 413."""

MAX_BATCH_BODY = 1024 * 1024
"""A batch of `MAX_BATCH_EVENTS` events of 2 KiB each (a real event is 200-500 bytes): room
for any sensible batch, while one request's body and what it parses into stay a few MiB."""


class BodyTimeout(Exception):
    """The body did not arrive within BODY_READ_TIMEOUT_S (answered 408, connection closed)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"the body did not arrive within {seconds:g} seconds")


class BodyNotDecodable(Exception):
    """The body does not decode as its Content-Encoding says (400, connection closed: aiohttp
    can read nothing further from it)."""


class ClientGone(Exception):
    """The client closed the connection before its body ended: there is no one to answer."""


async def read_body(request: web.Request, max_size: int = MAX_BODY) -> bytes:
    """The whole body, within the time limit and `max_size` bytes (413 past it)."""
    seconds = request.app[SERVICES].settings.BODY_READ_TIMEOUT_S
    if max_size != request.client_max_size:
        request = request.clone(client_max_size=max_size)
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        if request.transport is None:
            # Gone before its handler began to read, so the read was never told.
            raise ClientGone from None
        raise BodyTimeout(seconds) from None
    except ConnectionResetError:
        # aiohttp ends a pending read this way when the connection is lost mid-body.
        raise ClientGone from None
    except web.RequestPayloadError:
        raise BodyNotDecodable from None
