"""A hand-written fake of our own `Messenger` port, for the delivery worker's logic: it
records what it was asked to post and edit, and fails as it is told. (The real Slack and
Teams messengers are tested against fakes of the platforms' HTTP APIs.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from handlers.alerts.messenger import DeliveryFailed, Destination, Posted
from handlers.chat.replies import Reply
from handlers.ports import Platform


@dataclass
class Sent:
    to: Destination
    message: Reply
    posted: Posted
    at: float
    """Loop time, for pacing."""
    edit: bool = False


@dataclass
class RecordingMessenger:
    platform: Platform = "slack"
    sent: list[Sent] = field(default_factory=list)
    failures: list[DeliveryFailed] = field(default_factory=list)
    """Raised one per call, first first, before anything succeeds."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def post(self, to: Destination, message: Reply) -> Posted:
        self._maybe_fail()
        posted = Posted(f"C-{to.id}", f"{next(self._ids)}.0001")
        self.sent.append(Sent(to, message, posted, asyncio.get_running_loop().time()))
        return posted

    async def edit(self, to: Destination, posted: Posted, message: Reply) -> None:
        self._maybe_fail()
        self.sent.append(Sent(to, message, posted, asyncio.get_running_loop().time(), edit=True))

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def texts(self) -> list[str]:
        return [s.message.text for s in self.sent]


def moving(at: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock that starts at `at` and moves on in real time (paced sends fall due)."""
    started = time.monotonic()
    return lambda: at + dt.timedelta(seconds=time.monotonic() - started)
