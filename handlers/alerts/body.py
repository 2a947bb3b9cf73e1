"""A queued message's words, stored as the neutral `Reply` in JSON: the delivery worker
renders it for the platform only when it sends, so one body serves Slack and Teams."""

from __future__ import annotations

from pydantic import TypeAdapter

from handlers.chat.replies import Reply

_REPLY = TypeAdapter(Reply)


def encode(reply: Reply) -> str:
    return _REPLY.dump_json(reply, exclude_defaults=True).decode()


def decode(body: str) -> Reply:
    return _REPLY.validate_json(body)
