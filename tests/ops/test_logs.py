"""The log lines `serve` writes: one JSON object per line (UTC time, level, logger, message,
the request's id, extra fields) or plain text; every line written while a request is
served carries its id, and one access line per request names the route's pattern, never
the path."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.logs import REQUEST_ID, JsonFormatter, log_handler
from bot.services import bootstrap
from bot.settings import Settings
from tests.http.conftest import STOKE, Api, create_token, event, worker
from tests.ops.test_readiness import UNREACHABLE


@contextmanager
def serve_logs(log_format: Literal["json", "text"] = "json") -> Iterator[io.StringIO]:
    """What the root logger writes at INFO, as `serve` configures it, for the block."""
    out = io.StringIO()
    handler = log_handler(log_format, out)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def json_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_json_line_has_utc_time_level_logger_message_and_extras() -> None:
    record = logging.LogRecord("caseload_bot.x", logging.WARNING, "f.py", 1, "n=%d", (3,), None)
    record.org = STOKE
    token = REQUEST_ID.set("r-1")
    try:
        out = io.StringIO()
        handler = log_handler("json", out)
        handler.handle(record)
    finally:
        REQUEST_ID.reset(token)
    (line,) = json_lines(out)
    assert line == {
        "time": line["time"],
        "level": "WARNING",
        "logger": "caseload_bot.x",
        "message": "n=3",
        "request_id": "r-1",
        "org": STOKE,
    }
    at = dt.datetime.fromisoformat(line["time"])
    assert at.utcoffset() == dt.timedelta(0)


def test_outside_a_request_there_is_no_request_id_and_tracebacks_stay_in_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, "f.py", 1, "failed", (), exc_info=sys.exc_info()
        )
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert "request_id" not in line
    assert "ValueError: boom" in line["exc_info"]


async def test_each_request_s_lines_carry_its_id_and_its_route_pattern(api: Api) -> None:
    token = await create_token(api.storage, STOKE)
    await api.accept(event("worker.upserted", worker("NQ-1")))
    with serve_logs() as out:
        response = await api.client.get(
            "/api/v1/workers/NQ-1/breaches",
            headers={"Authorization": f"Bearer {token}", "X-Request-Id": "ops-1"},
        )
        assert response.status == 200
        other = await api.client.get("/healthz")  # on the same connection, no id given
    lines = json_lines(out)
    (access,) = [line for line in lines if line.get("request_id") == "ops-1"]
    assert access["logger"] == "caseload_bot.access"
    assert access["level"] == "INFO"
    assert (access["method"], access["route"], access["status"]) == (
        "GET",
        "/api/v1/workers/{ref}/breaches",
        200,
    )
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert "NQ-1" not in json.dumps(access)
    (health,) = [line for line in lines if line.get("route") == "/healthz"]
    assert health["request_id"] == other.headers["X-Request-Id"] != "ops-1"


async def test_a_handler_s_own_line_carries_the_request_id() -> None:
    """The id reaches lines written deep in the request, not only the access line."""
    services = bootstrap(Settings(DATABASE_URL=UNREACHABLE))
    async with TestClient(TestServer(build_app(services))) as client:
        with serve_logs() as out:
            response = await client.get("/readyz", headers={"X-Request-Id": "ready-7"})
            assert response.status == 503
    mine = [line for line in json_lines(out) if line.get("request_id") == "ready-7"]
    assert [(m["logger"], m["level"]) for m in mine] == [
        ("caseload_bot.ops", "WARNING"),
        ("caseload_bot.access", "INFO"),
    ]
    assert mine[0]["message"].startswith("not ready: database unreachable")


async def test_text_lines_for_reading_locally(api: Api) -> None:
    with serve_logs("text") as out:
        await api.client.get("/readyz", headers={"X-Request-Id": "txt-1"})
    (line,) = [line for line in out.getvalue().splitlines() if "request_id=txt-1" in line]
    assert " INFO caseload_bot.access GET /readyz 200 " in line
    assert "route=/readyz" in line and "status=200" in line and "duration_ms=" in line


def test_serve_logs_json_unless_told_otherwise() -> None:
    assert Settings().LOG_FORMAT == "json"
    assert Settings(LOG_FORMAT="text").LOG_FORMAT == "text"
