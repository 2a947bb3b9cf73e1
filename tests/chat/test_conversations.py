"""The conversation tables on the in-memory fakes: the first words and the key facts of
each answer, and that nothing but a check's own decision is ever written."""

from __future__ import annotations

import pytest

from handlers.chat.turn import respond
from storage.repositories import Storage
from tests.chat.conversations import CONVERSATIONS, Conversation
from tests.chat.harness import audit_heads, command, plain, seed, world
from tests.chat.world import DORSET, NOW, STOKE, slack
from tests.handlers.world import snapshot, written


@pytest.mark.parametrize("c", CONVERSATIONS, ids=lambda c: c.name)
async def test_conversation(c: Conversation) -> None:
    tx = await world()
    before = snapshot(tx)
    reply = await respond(tx, slack(c.who), command(c.kind, c.text), NOW)
    assert reply is not None
    text = plain(reply)
    assert reply.text.startswith(c.starts), text
    for fact in c.facts:
        assert fact in text, f"{fact!r} not in:\n{text}"
    for word in c.absent:
        assert word not in text, f"{word!r} in:\n{text}"
    assert reply.private
    rows = written(before, tx.state)
    assert [r.split(" ")[0] for r in rows] == (["decision"] if c.audited else []), rows
    before.audit = tx.state.audit
    assert snapshot(tx) == before, "only the audit log may change"


async def test_every_conversation_on_the_database(storage: Storage) -> None:
    """The same table on SQLite and PostgreSQL, through the real repositories, one after
    another on one world: a check writes only its decision, so none affects the next."""
    await seed(storage)
    for c in CONVERSATIONS:
        before = await audit_heads(storage)
        reply = await respond(storage, slack(c.who), command(c.kind, c.text), NOW)
        assert reply is not None, c.name
        text = plain(reply)
        assert reply.text.startswith(c.starts), (c.name, text)
        assert all(fact in text for fact in c.facts), (c.name, text)
        assert not any(word in text for word in c.absent), (c.name, text)
        after = await audit_heads(storage)
        assert after[STOKE] - before[STOKE] == (1 if c.audited else 0), c.name
        assert after[DORSET] == before[DORSET], c.name
