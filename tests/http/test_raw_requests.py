"""Requests as bytes on a socket: headers and query strings that no HTTP client library
would send (a raw \\xff, text that is not UTF-8) get the answer any bad value gets, never a
500, and change nothing."""

from __future__ import annotations

import gzip
import json
import logging
import re

import pytest

from tests.http.conftest import STOKE, Live, raw_request, snapshot

WORKER_PATHS = ["/api/v1/workers/NQ-1/entitlements", "/api/v1/workers/NQ-1/breaches"]
DECISION = json.dumps(
    {
        "org": STOKE,
        "worker_ref": "NQ-1",
        "proposal": {"case_id": "C-9", "work_type": "child_in_need", "children": 1},
    }
).encode()


def _request(live: Live, method: str, target: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    lines = [
        method.encode() + b" " + target + b" HTTP/1.1",
        f"Host: {live.host}:{live.port}".encode(),
        b"Connection: close",
        *headers,
    ]
    if method == "POST":
        lines += [b"Content-Type: application/json", f"Content-Length: {len(body)}".encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _requests(live: Live, *headers: bytes) -> list[bytes]:
    """The same headers on every API route."""
    return [_request(live, "GET", path.encode(), *headers) for path in WORKER_PATHS] + [
        _request(live, "POST", b"/api/v1/decisions", *headers, body=DECISION)
    ]


BAD_AUTHORIZATION = [
    b"Bearer \xff",
    b"Bearer \xc3\x28",  # an invalid UTF-8 sequence
    b"Bearer clb_\xff\xfe",
    b"\xff \xff",
    b"Bearer caf\xc3\xa9",  # valid UTF-8, but no token is
]


async def test_an_authorization_header_that_is_not_a_token_is_401(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    before = await snapshot(live.db)
    for value in BAD_AUTHORIZATION:
        for request in _requests(live, b"Authorization: " + value):
            answer = await raw_request(live, request)
            assert answer.status == 401, (value, request[:40], answer.body)
            assert answer.body["error"] == "unauthorized"
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.headers["x-request-id"]
    assert await snapshot(live.db) == before
    # The same bytes with the real token are answered: it is the header that was refused.
    good = f"Authorization: Bearer {live.token}".encode()
    for request in _requests(live, good):
        assert (await raw_request(live, request)).status in (200, 404)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_plain_request_id_is_kept_and_any_other_is_replaced(live: Live) -> None:
    def sent(value: bytes) -> bytes:
        return _request(live, "GET", b"/healthz", b"X-Request-Id: " + value)

    for value in (b"req-42", b"a.b:c_D-9", b"7" * 64):
        answer = await raw_request(live, sent(value))
        assert answer.headers["x-request-id"] == value.decode()
    # Over 64 characters the id is cut, as before.
    answer = await raw_request(live, sent(b"8" * 80))
    assert answer.headers["x-request-id"] == "8" * 64
    for value in (b"a\xffb", b"caf\xc3\xa9", b"two words", b"a=b", b'"quoted"', b"{}"):
        answer = await raw_request(live, sent(value))
        assert answer.status == 200
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), value


ODD_TARGETS: list[tuple[str, bytes, str]] = [
    ("GET", b"/api/v1/workers/NQ-1/entitlements?on=%FF", "on"),
    ("GET", b"/api/v1/workers/NQ-1/entitlements?on=2025-01-01%00", "on"),
    ("GET", b"/api/v1/workers/NQ-1/entitlements?on=%EF%BC%92025-01-01", "on"),  # a wide digit
    ("GET", b"/api/v1/workers/NQ-1/entitlements?on=2025-01-01&on=2025-02-01", "on"),
    ("GET", b"/api/v1/workers/NQ-1/breaches?org=%FF", "org"),
    ("GET", b"/api/v1/workers/NQ-1/breaches?org=sto%00ke", "org"),
    ("GET", b"/api/v1/workers/NQ-1/entitlements?org=%ED%A0%80", "org"),  # a surrogate
    ("GET", b"/api/v1/workers/NQ-1/breaches?org=stoke&org=dorset", "org"),
    ("POST", b"/api/v1/decisions?org=two%20words", "org"),
    ("GET", b"/api/v1/workers/%FF/breaches", "ref"),
    ("GET", b"/api/v1/workers/NQ%001/entitlements", "ref"),
    ("GET", b"/api/v1/workers/" + b"7" * 65 + b"/breaches", "ref"),
]


async def test_odd_query_values_and_worker_refs_are_400_naming_them(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """Each is a value no worker, organisation or date can have: refused by the same types
    that validate them in events and bodies, before any lookup, and named."""
    auth = f"Authorization: Bearer {live.token}".encode()
    before = await snapshot(live.db)
    for method, target, field in ODD_TARGETS:
        body = DECISION if method == "POST" else b""
        answer = await raw_request(live, _request(live, method, target, auth, body=body))
        assert answer.status == 400, (target, answer.body)
        assert answer.body["error"] == "invalid" and answer.body["field"] == field, target
    assert await snapshot(live.db) == before
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    # Good values of the same parameters pass (to the 404 of a worker that does not exist).
    for target in (
        b"/api/v1/workers/NQ-1/entitlements?on=2025-01-01&org=stoke",
        b"/api/v1/workers/NQ-1/breaches?org=stoke&unknown=ignored",
    ):
        answer = await raw_request(live, _request(live, "GET", target, auth))
        assert answer.status == 404 and "NQ-1" in answer.body["message"], target


@pytest.mark.parametrize("path", ["/webhooks/case-events", "/api/v1/decisions"])
async def test_a_body_that_does_not_decode_as_its_content_encoding_is_400(
    live: Live, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each was a 500 and an 'unhandled error' traceback."""
    auth = f"Authorization: Bearer {live.token}".encode()
    before = await snapshot(live.db)
    for encoding, body in (
        (b"gzip", b"not gzip at all"),
        (b"deflate", b"\x00\x01\x02 not deflate"),
        (b"gzip", b"\x1f\x8b" + b"x" * 30),  # a gzip magic number, then nonsense
    ):
        headers = (auth, b"Content-Encoding: " + encoding)
        answer = await raw_request(live, _request(live, "POST", path.encode(), *headers, body=body))
        assert answer.status == 400, (encoding, answer.body)
        assert answer.body["field"] == "body" and "Content-Encoding" in answer.body["message"]
    assert await snapshot(live.db) == before
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    # A body that does decode is read as usual (to the 404 of a worker that does not exist).
    headers = (auth, b"Content-Encoding: gzip")
    packed = gzip.compress(DECISION)
    answer = await raw_request(
        live, _request(live, "POST", b"/api/v1/decisions", *headers, body=packed)
    )
    assert answer.status == 404 and "NQ-1" in answer.body["message"], answer.body
