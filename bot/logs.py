"""Log lines: one JSON object per line for the council's log collector, or plain text to read
locally; each line written while a request is served carries that request's id (the one its
answer's X-Request-Id gives). Lines carry ids and counts, never people's names or words."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from contextvars import ContextVar
from typing import Any, Literal, TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("caseload_request_id", default=None)
"""Set by `bot.app.request_id_middleware` for the request being served (and inherited by
the tasks it starts)."""

_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
}
"""A record's own attributes; any other is an `extra=` field of the call."""


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or None) on every record the handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_KEYS and k[0] != "_"}


class JsonFormatter(logging.Formatter):
    """`time` (UTC, ISO 8601), `level`, `logger`, `message`, `request_id` when in a request,
    the call's `extra` fields, and `exc_info` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            out["request_id"] = request_id
        out.update(_extra(record))
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with the request id and the `extra` fields as `key=value`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = _extra(record)
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            fields = {"request_id": request_id, **fields}
        return " ".join([line, *(f"{k}={v}" for k, v in fields.items())])


def log_handler(log_format: Literal["json", "text"], stream: TextIO) -> logging.Handler:
    """A handler writing `log_format` lines to `stream`, each with its request id."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def configure_logging(log_format: Literal["json", "text"], level: int = logging.INFO) -> None:
    """The root logger's one handler, to stderr, replacing any: called once, by `serve`."""
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(log_handler(log_format, sys.stderr))
    root.setLevel(level)
