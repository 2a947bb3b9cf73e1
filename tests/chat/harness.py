"""The chat world on the in-memory fakes, and a reply read as plain text."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, Literal

from handlers import admin
from handlers.case_events import apply_event
from handlers.chat.replies import Facts, Reply, Section
from handlers.chat.turn import Command, read_message, read_slash
from handlers.events import parse_event
from handlers.ports import Transactions
from policy import parse_policy, preset_text
from tests.chat.world import DORSET, EQUALITY_ATTRIBUTES, NOW, STOKE, events
from tests.fakes import FakeTransactions


async def world() -> FakeTransactions:
    tx = FakeTransactions()
    await seed(tx)
    return tx


async def seed(tx: Transactions, said: Iterable[dict[str, Any]] | None = None) -> None:
    """The organisations created as the command line creates them (Stoke's equality view
    switched on), then the world's events
    (or `said`: some of them, changed, for a test that sends the rest itself)."""
    created = NOW - dt.timedelta(days=1)
    for org, preset in ((STOKE, "stoke-childrens"), (DORSET, "dorset-childrens")):
        source, text = preset_text(preset)
        policy = parse_policy(text, source)
        await admin.create_organisation(tx, org, org.title(), policy, source, text, "cli", created)
    await admin.set_equality_view(tx, STOKE, EQUALITY_ATTRIBUTES, "cli", created)
    for n, body in enumerate(events() if said is None else said):
        await apply_event(
            tx, f"seed-{n}", parse_event(json.dumps(body)), at=NOW - dt.timedelta(hours=1)
        )


def command(kind: Literal["allocate", "caseload", "message"], text: str) -> Command:
    return read_message(text) if kind == "message" else read_slash(kind, text)


def plain(reply: Reply) -> str:
    """Everything a person would read, one line each, buttons as [label]."""
    lines = [reply.text]
    for block in reply.blocks:
        if isinstance(block, Section):
            lines += [block.title or "", *block.lines]
        elif isinstance(block, Facts):
            lines += [f"{label}: {value}" for label, value in block.pairs]
    lines += [f"[{b.label}]" for b in reply.buttons]
    if reply.form is not None:
        lines += [reply.form.title, reply.form.prompt]
    return "\n".join(lines)


async def audit_heads(tx: Transactions) -> dict[str, int]:
    """How many audit rows each organisation of the world has."""
    async with tx.read() as uow:
        heads = {org: await uow.audit.head(org) for org in (STOKE, DORSET)}
    return {org: 0 if head is None else head.seq for org, head in heads.items()}
