"""One turn of chat, whatever the platform: commands in, neutral replies out.

Adapters call `read_slash` or `read_message` on what was typed, `parse_action` on what was
pressed, and `respond` for the answer; only rendering is theirs.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Literal

from handlers.chat import answers
from handlers.chat.asker import whoami
from handlers.chat.commands import (
    Asker,
    Command,
    Help,
    parse_action,
    parse_allocate,
    parse_caseload,
    parse_message,
)
from handlers.chat.conversation import run
from handlers.chat.replies import Reply
from handlers.errors import Busy, CaseloadError, StorageError, Unclear
from handlers.ports import Transactions
from policy import InputError

__all__ = [
    "Asker",
    "Command",
    "Reply",
    "failure",
    "parse_action",
    "read_message",
    "read_slash",
    "respond",
]

log = logging.getLogger(__name__)

failure = answers.failure


def read_slash(name: Literal["allocate", "caseload"], text: str) -> Command:
    """A slash command's text as a command; what cannot be read becomes help that says why."""
    try:
        return parse_allocate(text) if name == "allocate" else parse_caseload(text)
    except Unclear as e:
        return Help(name, str(e))


def read_message(text: str) -> Command:
    try:
        return parse_message(text)
    except Unclear as e:
        first = text.split(maxsplit=1)[0].lower().lstrip("/") if text.strip() else ""
        topic: Literal["allocate", "caseload", "start"] = (
            "allocate" if first == "allocate" else "caseload" if first == "caseload" else "start"
        )
        return Help(topic, str(e))


async def respond(
    tx: Transactions,
    asker: Asker,
    command: Command,
    at: dt.datetime,
    *,
    delivery: str | None = None,
) -> Reply | None:
    """The answer to `command`. Refusals of every kind are answers; None only when
    `delivery` (the platform's id for the message) was answered before. Unexpected errors,
    and a database that cannot be reached, propagate for the adapter to log and word."""
    try:
        if delivery is not None and not await _first_delivery(tx, asker, delivery, at):
            log.info("chat delivery %s seen before: not answered again", delivery)
            return None
        return await run(tx, asker, command, at)
    except Busy:
        return answers.busy()
    except StorageError:
        raise
    except Unclear as e:
        return answers.help_reply("start", str(e))
    except CaseloadError as e:
        return answers.refusal(str(e))
    except InputError as e:
        return answers.refusal(f"{e.field}: {e.message}" if e.field else e.message)


async def _first_delivery(tx: Transactions, asker: Asker, delivery: str, at: dt.datetime) -> bool:
    """Kept as a receipt of the asker's organisation, so every replica sees it."""

    async def once() -> bool:
        async with tx.write(urgent=True) as uow:
            who = await whoami(uow, asker)
            return await uow.receipts.record(who.org.id, delivery, "chat", at)

    return await tx.retry(once)
