"""The try-out page's messenger: what the outbox delivers is kept, in order, bounded; an edit
replaces the message where it stands and shows again as changed."""

from __future__ import annotations

from bot.tryout.messenger import WebMessenger
from handlers.alerts.messenger import Destination, Posted
from handlers.chat.replies import Reply

CHANNEL = Destination("web", "demo", "channel", "demo-managers")
ALEX = Destination("web", "demo", "person", "alex.rivers")
SAM = Destination("web", "demo", "person", "sam.okafor")


async def test_each_person_sees_the_channel_and_their_own_messages() -> None:
    messenger = WebMessenger()
    await messenger.post(CHANNEL, Reply("alert"))
    await messenger.post(ALEX, Reply("to Alex"))
    await messenger.post(SAM, Reply("to Sam"))
    assert [s.reply.text for s in messenger.since(0, "alex.rivers")] == ["alert", "to Alex"]
    assert [s.reply.text for s in messenger.since(0, "sam.okafor")] == ["alert", "to Sam"]
    assert [s.reply.text for s in messenger.since(2, "sam.okafor")] == ["to Sam"]


async def test_an_edit_is_the_same_message_changed_since() -> None:
    messenger = WebMessenger()
    posted = await messenger.post(CHANNEL, Reply("Breach"))
    await messenger.post(CHANNEL, Reply("later"))
    await messenger.edit(CHANNEL, posted, Reply("Breach: acknowledged"))
    (edited,) = messenger.since(2, "alex.rivers")
    assert (edited.id, edited.seq, edited.reply.text) == (posted.message, 3, "Breach: acknowledged")


async def test_it_keeps_the_newest_and_shows_a_forgotten_one_again_when_edited() -> None:
    messenger = WebMessenger(keep=2)
    first = await messenger.post(CHANNEL, Reply("1"))
    for text in ("2", "3"):
        await messenger.post(CHANNEL, Reply(text))
    assert [s.reply.text for s in messenger.since(0, "")] == ["2", "3"]
    await messenger.edit(CHANNEL, first, Reply("1 acknowledged"))
    shown = messenger.since(0, "")
    assert [(s.id, s.reply.text) for s in shown] == [("m3", "3"), ("m1", "1 acknowledged")]
    before_a_restart = Posted("channel:demo-managers", "m77")
    await messenger.edit(CHANNEL, before_a_restart, Reply("77 resolved"))
    assert [s.id for s in messenger.since(4, "")] == ["m77"]
