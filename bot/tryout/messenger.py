"""The try-out page's `Messenger`: what the outbox delivers (alerts, escalations, reminders)
and the notices an answer sends are kept in memory, for the page to poll. Bounded: the
oldest messages go first. An edit of a message no longer held (evicted, or posted before
the server restarted) shows it again as it now stands: on a page, that is what an edit is
for, and the outbox has nothing better to do with it."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from bot.report_charts import drawn
from handlers.alerts.messenger import Destination, Posted
from handlers.chat.replies import Reply

KEEP = 500
"""Messages kept; a demo never comes near it, a page left open for weeks might."""


@dataclass(frozen=True, slots=True)
class Shown:
    """One message as it stands: `seq` grows with every post and every edit, so the page asks
    for what changed since the last `seq` it saw."""

    seq: int
    id: str
    kind: Literal["channel", "person"]
    target: str
    reply: Reply
    image: bytes | None = None
    """The reply's charts, drawn once when posted (a weekly report)."""


class WebMessenger:
    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._shown: OrderedDict[str, Shown] = OrderedDict()
        self._seq = itertools.count(1)

    @property
    def platform(self) -> Literal["web"]:
        return "web"

    async def post(self, to: Destination, message: Reply) -> Posted:
        seq = next(self._seq)
        message_id = f"m{seq}"
        image = None if message.chart is None else await drawn(message.chart)
        self._keep_one(Shown(seq, message_id, to.kind, to.id, message, image))
        return Posted(conversation=f"{to.kind}:{to.id}", message=message_id)

    async def edit(self, to: Destination, posted: Posted, message: Reply) -> None:
        self._shown.pop(posted.message, None)
        self._keep_one(Shown(next(self._seq), posted.message, to.kind, to.id, message))

    def since(self, seq: int, person: str) -> tuple[Shown, ...]:
        """What changed after `seq` in any channel, and in `person`'s private messages."""
        return tuple(
            s
            for s in self._shown.values()
            if s.seq > seq and (s.kind == "channel" or s.target == person)
        )

    def _keep_one(self, shown: Shown) -> None:
        self._shown[shown.id] = shown
        while len(self._shown) > self._keep:
            self._shown.popitem(last=False)
