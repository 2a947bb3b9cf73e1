"""The one thing delivery needs of a chat platform: post a message unasked, and edit it
later. Slack, Teams and the try-out page each implement `Messenger` in `bot/`; the outbox
owns retries, pacing and parking, so a messenger tries once and says how it failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from handlers.chat.replies import Reply
from handlers.ports import Platform


@dataclass(frozen=True, slots=True)
class Destination:
    """A channel, or one person privately. Slack: workspace id and a channel or user id.
    Teams: tenant id and a channel id or a person's AAD object id. The try-out page (`web`):
    `demo` and its channel or the person's handle."""

    platform: Platform
    tenant: str
    kind: Literal["channel", "person"]
    id: str
    reference: str | None = None
    """Teams only: a stored conversation reference (JSON) of this channel, or for a person
    of any channel of their tenant, which says where the tenant's Teams service is; filled
    in by the delivery worker just before sending."""


@dataclass(frozen=True, slots=True)
class Posted:
    """The platform's own reference to a message it accepted, kept so that a later change
    (acknowledged, resolved, escalated) edits the same message."""

    conversation: str
    """Slack: the channel id (a DM's `D…` id for a person). Teams: the conversation id."""
    message: str
    """Slack: the message `ts`. Teams: the activity id."""


class DeliveryFailed(Exception):
    """One attempt failed. `retry_after`: seconds the platform asked us to wait (a 429).
    `permanent`: trying again cannot help (no such channel or person, the bot was removed,
    credentials refused), so the message is parked at once."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


class Messenger(Protocol):
    """One platform's sender. Each call is one attempt; failures raise `DeliveryFailed`
    with a reason made of ids and status codes only, never the message's words."""

    @property
    def platform(self) -> Platform: ...

    async def post(self, to: Destination, message: Reply) -> Posted: ...

    async def edit(self, to: Destination, posted: Posted, message: Reply) -> None:
        """Replace the words and buttons of the message `post` returned."""
        ...
