"""Teams' `Messenger`: proactive messages through the edge's `CloudAdapter`.

Each call continues a stored conversation reference (`TeamsEdge._remember` wrote it), which
gives a turn whose connector client is authenticated for that tenant's Teams service; in it
the card is posted to the channel, or to the 1:1 chat Teams opens with the person, or edited.
Exactly one attempt: the connector client never retries, and a failure inside the turn is
caught here rather than left to the adapter's `on_turn_error` (which would post the error's
text into the conversation and swallow it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiohttp
from microsoft_agents.activity import (
    Activity,
    ChannelAccount,
    ChannelId,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from microsoft_agents.hosting.core import ChannelServiceAdapter, ConnectorClientBase, TurnContext
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from pydantic import ValidationError

from bot.report_charts import drawn
from bot.teams import cards
from handlers.alerts.messenger import DeliveryFailed, Destination, Posted
from handlers.chat.replies import Reply

log = logging.getLogger("caseload_bot.teams")

ATTEMPT_WITHIN_S = 30.0
"""The connector's own HTTP session waits up to five minutes; one attempt gets this long, as
Slack's client gives one, before it counts as a transient failure."""

Work = Callable[[ConnectorClientBase, ConversationReference], Awaitable[Any]]


class TeamsMessenger:
    """`app_id`: the bot's client id, whose token the connector calls carry; None when the
    edge runs anonymously (the Agents Playground, tests), where calls carry none."""

    def __init__(self, adapter: ChannelServiceAdapter, app_id: str | None) -> None:
        self._adapter = adapter
        self._app_id = app_id

    @property
    def platform(self) -> Literal["teams"]:
        return "teams"

    async def post(self, to: Destination, message: Reply) -> Posted:
        image = None if message.chart is None else await drawn(message.chart)

        async def send(connector: ConnectorClientBase, where: ConversationReference) -> Posted:
            conversation = to.id
            if to.kind == "person":
                chat = private_chat(to.tenant, to.id, where.agent)
                conversation = (await connector.conversations.create_conversation(chat)).id
            activity = from_agent(
                cards.activity(message, image=image), where.channel_id, where.agent
            )
            sent = await connector.conversations.send_to_conversation(conversation, activity)
            return Posted(conversation=conversation, message=sent.id or "")

        posted: Posted = await self._attempt(to, send)
        return posted

    async def edit(self, to: Destination, posted: Posted, message: Reply) -> None:
        if not posted.conversation or not posted.message:
            raise DeliveryFailed("no activity to edit", permanent=True)

        async def update(connector: ConnectorClientBase, where: ConversationReference) -> None:
            activity = from_agent(cards.activity(message), where.channel_id, where.agent)
            activity.id = posted.message
            activity.conversation = ConversationAccount(id=posted.conversation)
            await connector.conversations.update_activity(
                posted.conversation, posted.message, activity
            )

        await self._attempt(to, update)

    async def _attempt(self, to: Destination, work: Work) -> Any:
        """`work` in a turn continuing `to.reference`; whatever it raises comes out here as
        `DeliveryFailed`."""
        where = _reference(to)
        done: list[Any] = []
        failed: list[Exception] = []

        async def turn(context: TurnContext) -> None:
            connector = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
            try:
                assert connector is not None, "a proactive turn always has its connector"
                done.append(await work(connector, where))
            except Exception as e:  # raised below, outside the adapter's pipeline
                failed.append(e)

        try:
            async with asyncio.timeout(ATTEMPT_WITHIN_S):
                await self._adapter.continue_conversation_with_claims(
                    self._identity(), where.get_continuation_activity(), turn
                )
            if failed:
                raise failed[0]
        except Exception as e:
            raise _failure(e, to) from e
        return done[0]

    def _identity(self) -> ClaimsIdentity:
        """The bot's own identity, as `continue_conversation(app_id, ...)` builds it; with no
        claims at all when anonymous, which is what makes the SDK send no token."""
        if self._app_id is None:
            return ClaimsIdentity()
        return self._adapter.create_claims_identity(self._app_id)


def private_chat(tenant: str, aad: str, agent: ChannelAccount | None) -> ConversationParameters:
    """The bot's 1:1 chat with one person, by AAD object id: Teams opens it, or answers with
    the one there already is."""
    return ConversationParameters(
        is_group=False,
        agent=agent,
        members=[ChannelAccount(id=aad)],
        tenant_id=tenant,
        channel_data={"tenant": {"id": tenant}},
    )


def from_agent(
    message: Activity, channel_id: ChannelId | None, agent: ChannelAccount | None
) -> Activity:
    """`message` as sent straight to the connector, outside a turn's own conversation."""
    message.channel_id = channel_id
    if agent is not None:
        message.from_property = agent
    return message


def _reference(to: Destination) -> ConversationReference:
    """The stored reference, which must say where the tenant's Teams service is."""
    if to.reference is None:
        raise DeliveryFailed("no conversation reference", permanent=True)
    try:
        where = ConversationReference.model_validate_json(to.reference)
    except ValidationError:
        raise DeliveryFailed("invalid conversation reference", permanent=True) from None
    if not where.service_url or where.conversation is None or not where.conversation.id:
        raise DeliveryFailed("invalid conversation reference", permanent=True)
    return where


def _failure(error: Exception, to: Destination) -> DeliveryFailed:
    """By HTTP status: 429 waits as asked; any other 4xx but 408 (the bot removed, the
    conversation gone, credentials refused) is permanent; 5xx, 408, no answer are transient."""
    if isinstance(error, aiohttp.ClientResponseError):
        status = error.status
        if status == 429:
            return DeliveryFailed("HTTP 429", retry_after=retry_after(error.headers))
        return DeliveryFailed(f"HTTP {status}", permanent=400 <= status < 500 and status != 408)
    if not isinstance(error, aiohttp.ClientError | TimeoutError):
        log.warning(
            "teams: unexpected failure tenant=%s %s=%s error=%s",
            to.tenant,
            to.kind,
            to.id,
            type(error).__name__,
            exc_info=error,
        )
    return DeliveryFailed(type(error).__name__)


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header, if it has a number of them."""
    if not headers:
        return None
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None
