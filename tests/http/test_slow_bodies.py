"""Slow and vanishing bodies, over real sockets against the app on a real port.

A client that sends its headers and part of a body gets 408 once BODY_READ_TIMEOUT_S (cut
to one second here) has passed, and its connection is closed; one that goes away mid-body
is one INFO line, never an error; and while many such clients are held, /healthz answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from tests.http.conftest import (
    LIVE_BODY_READ_TIMEOUT_S,
    PATIENCE,
    Live,
    raw_request,
    read_answer,
    snapshot,
)

BODY_PATHS = ["/webhooks/case-events", "/api/v1/decisions"]

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _head(live: Live, path: str, framing: str, request_id: str | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {live.host}:{live.port}",
        f"Authorization: Bearer {live.token}",
        "Content-Type: application/json",
        framing,
    ]
    if request_id is not None:
        lines.append(f"X-Request-Id: {request_id}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _content_length(live: Live, path: str, request_id: str | None = None) -> bytes:
    """Headers promising 400 bytes, and the first 12 of them."""
    return _head(live, path, "Content-Length: 400", request_id) + b'{"org": "sto'


def _chunked(live: Live, path: str) -> bytes:
    """Chunked framing, one chunk, and no last chunk."""
    return _head(live, path, "Transfer-Encoding: chunked") + b'c\r\n{"org": "sto\r\n'


async def _send(live: Live, data: bytes) -> Stream:
    reader, writer = await asyncio.open_connection(live.host, live.port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True when the server closes the connection well before its lingering close (ten
    seconds of reading what is left of the body) would have."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except TimeoutError:
        return False


async def _assert_timed_out(reader: asyncio.StreamReader, started: float) -> None:
    answer = await read_answer(reader)
    waited = time.monotonic() - started
    assert answer.status == 408, answer
    assert answer.body["error"] == "timeout" and "seconds" in answer.body["message"]
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["connection"] == "close"
    assert answer.headers["x-request-id"]
    # Not refused at once: the server gave the body its time.
    assert waited >= LIVE_BODY_READ_TIMEOUT_S / 2, waited
    assert await _closed_by_server(reader)


@pytest.mark.parametrize("path", BODY_PATHS)
async def test_a_partial_body_with_content_length_is_408_and_closed(live: Live, path: str) -> None:
    before = await snapshot(live.db)
    started = time.monotonic()
    reader, writer = await _send(live, _content_length(live, path))
    try:
        await _assert_timed_out(reader, started)
    finally:
        writer.close()
    assert await snapshot(live.db) == before


@pytest.mark.parametrize("path", BODY_PATHS)
async def test_a_partial_chunked_body_is_408_and_closed(live: Live, path: str) -> None:
    started = time.monotonic()
    reader, writer = await _send(live, _chunked(live, path))
    try:
        await _assert_timed_out(reader, started)
    finally:
        writer.close()


@pytest.mark.parametrize("path", BODY_PATHS)
async def test_a_client_gone_mid_body_is_one_info_line_and_no_error(
    live: Live, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request_id = f"gone-{path.rsplit('/', 1)[-1]}"
    _, writer = await _send(live, _content_length(live, path, request_id))
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()

    def access_logged() -> bool:
        return any(r.name == "aiohttp.access" and path in r.getMessage() for r in caplog.records)

    # The access line is written once the request is over, whatever became of it.
    deadline = time.monotonic() + PATIENCE
    while not access_logged() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert access_logged()

    (access,) = [r for r in caplog.records if r.name == "caseload_bot.access"]
    assert (access.route, access.status) == (path, 400)  # type: ignore[attr-defined]
    ours = [r for r in caplog.records if r.name.startswith("caseload_bot") and r is not access]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    (line,) = ours
    assert line.levelno == logging.INFO and line.exc_info is None
    assert "mid-body" in line.getMessage() and f"request_id={request_id}" in line.getMessage()
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r.getMessage() for r in caplog.records if '" 500 ' in r.getMessage()]


async def _trickle(writer: asyncio.StreamWriter) -> None:
    """A byte of body every 200 ms: never idle, never finished."""
    with contextlib.suppress(ConnectionError):
        while True:
            await asyncio.sleep(0.2)
            writer.write(b" ")
            await writer.drain()


async def test_healthz_answers_while_many_slow_clients_are_held(live: Live) -> None:
    started = time.monotonic()
    slow: list[Stream] = []
    for n in range(100):
        path = BODY_PATHS[n % 2]
        framing = _content_length if n % 3 else _chunked
        slow.append(await _send(live, framing(live, path)))
    trickles = [asyncio.create_task(_trickle(writer)) for _, writer in slow]
    try:
        answer = await raw_request(
            live, f"GET /healthz HTTP/1.1\r\nHost: {live.host}\r\n\r\n".encode()
        )
        assert (answer.status, answer.body) == (200, {"status": "ok"})
        assert time.monotonic() - started < PATIENCE
        # Every slow client, trickling or not, is answered and let go.
        for reader, _ in slow:
            await _assert_timed_out(reader, started)
    finally:
        for task in trickles:
            task.cancel()
        for _, writer in slow:
            writer.close()
