"""The Agents SDK's wiring: a `CloudAdapter`, an `AgentApplication` (the SDK's recommended
host for Teams) whose routes hand every message to `handlers.chat`, and the sending of the
answers: in place after a button, privately (a 1:1 chat) when asked in a channel, and the
notices to other people as 1:1 messages."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial

import aiohttp
from microsoft_agents.activity import Activity, load_configuration_from_env
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    ConnectorClientBase,
    MemoryStorage,
    TurnContext,
    TurnState,
)

from bot.metrics import Metrics
from bot.report_charts import drawn
from bot.settings import Settings
from bot.teams import cards, translate
from bot.teams.messenger import TeamsMessenger, from_agent, private_chat, retry_after
from handlers.chat.answers import refusal
from handlers.chat.commands import LinkChannel
from handlers.chat.replies import Reply
from handlers.chat.turn import failure, respond
from handlers.errors import BadButton
from handlers.ports import Transactions

log = logging.getLogger("caseload_bot.teams")

Clock = Callable[[], dt.datetime]

PRIVATELY = "I've sent you the answer privately."
SEND_TRIES = 3
"""A send answered 429 (Teams' throttling) is tried again, this often in all."""
MAX_WAIT_S = 5.0
"""The longest Retry-After honoured; beyond it the send fails and is logged."""


class TeamsEdge:
    """Everything Teams: built once by `bot.services.bootstrap` when Teams is configured."""

    def __init__(self, settings: Settings, tx: Transactions, now: Clock, metrics: Metrics) -> None:
        self._tx = tx
        self._now = now
        self._metrics = metrics
        self.auth = _auth_configuration(settings)
        """What the JWT middleware checks requests against."""
        connections = (
            MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": self.auth})
            if self.auth.ANONYMOUS_ALLOWED
            else MsalConnectionManager(**load_configuration_from_env(settings.teams_sdk_settings()))
        )
        self.adapter = CloudAdapter(connection_manager=connections)
        self.messenger = TeamsMessenger(self.adapter, settings.teams_client_id)
        """Alerts' way out: proactive messages, one attempt each (the outbox retries)."""
        self.agent = AgentApplication[TurnState](
            storage=MemoryStorage(),
            connection_manager=connections,
            remove_recipient_mention=False,  # `translate` needs to know it was mentioned
            start_typing_timer=False,
        )
        self.agent.activity("message")(self._on_message)
        self.agent.conversation_update("membersAdded")(self._on_installed)
        self.agent.conversation_update("membersRemoved")(self._on_removed)
        self.agent.installation_update()(self._on_installation)
        self.agent.error(self._on_error)

    async def close(self) -> None:
        return None

    # --- messages and buttons -----------------------------------------------------------

    async def _on_message(self, context: TurnContext, _: TurnState) -> None:
        activity = context.activity
        aad_of = await self._aad_ids(context)
        try:
            incoming = translate.read(activity, aad_of)
        except BadButton as e:
            await self._send(context, cards.activity(refusal(str(e))))
            return
        if incoming is None:
            return
        if not incoming.personal and isinstance(incoming.command, LinkChannel):
            await self._remember(context)
        started = time.perf_counter()
        reply = await respond(
            self._tx, incoming.asker, incoming.command, self._now(), delivery=incoming.delivery
        )
        command = type(incoming.command).__name__
        self._metrics.chat_answered("teams", command, reply, time.perf_counter() - started)
        if reply is None:
            return
        await self._answer(context, incoming, reply)
        for notice in reply.notices:
            for to in notice.to:
                if to.platform == "teams":
                    await self._tell(context, to.tenant, to.user_id, cards.notice_activity(notice))

    async def _answer(
        self, context: TurnContext, incoming: translate.Incoming, reply: Reply
    ) -> None:
        image = None if reply.chart is None else await drawn(reply.chart)
        message = cards.activity(reply, incoming.names, image)
        activity = context.activity
        if reply.private and not incoming.personal:
            await self._tell(context, incoming.asker.tenant, incoming.asker.user_id, message)
            if not incoming.pressed:
                await self._send(context, cards.text_activity(PRIVATELY))
            return
        if incoming.pressed and reply.replaces and activity.reply_to_id:
            message.id = activity.reply_to_id
            message.conversation = activity.conversation
            await _patiently(lambda: context.update_activity(message))
            return
        await self._send(context, message)

    async def _send(self, context: TurnContext, message: Activity) -> None:
        await _patiently(lambda: context.send_activity(message))

    async def _tell(self, context: TurnContext, tenant: str, aad: str, message: Activity) -> None:
        """A 1:1 message, in the chat Teams opens (or already has) between the bot and them.
        Best effort for notices: a failure is logged by id and the turn goes on."""
        connector = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
        activity = context.activity
        if connector is None:
            log.warning("teams: no connector to reach tenant=%s user=%s", tenant, aad)
            return
        chat = private_chat(tenant, aad, activity.recipient)
        try:
            created = await _patiently(lambda: connector.conversations.create_conversation(chat))
            from_agent(message, activity.channel_id, activity.recipient)
            await _patiently(
                lambda: connector.conversations.send_to_conversation(created.id, message)
            )
        except aiohttp.ClientError as e:
            log.warning(
                "teams: could not message tenant=%s user=%s privately: %s", tenant, aad, _why(e)
            )
            if aad == (activity.from_property.aad_object_id if activity.from_property else None):
                raise

    async def _aad_ids(self, context: TurnContext) -> dict[str, str]:
        """AAD object ids of the people mentioned whose mention does not carry one."""
        out: dict[str, str] = {}
        activity = context.activity
        connector = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
        conversation = activity.conversation.id if activity.conversation else None
        for person in translate.people_mentioned(activity):
            if person.aad_object_id or connector is None or not conversation or not person.id:
                continue
            member_id = person.id
            try:
                member = await _patiently(
                    partial(
                        connector.conversations.get_conversation_member, conversation, member_id
                    )
                )
            except aiohttp.ClientError as e:
                log.warning("teams: member %s not found: %s", member_id, _why(e))
                continue
            if member.aad_object_id:
                out[member_id] = member.aad_object_id
        return out

    # --- installation: where alerts can be posted later ----------------------------------

    async def _on_installed(self, context: TurnContext, _: TurnState) -> None:
        activity = context.activity
        bot = activity.recipient.id if activity.recipient else None
        if any(m.id == bot for m in activity.members_added or []):
            await self._remember(context)

    async def _on_removed(self, context: TurnContext, _: TurnState) -> None:
        activity = context.activity
        bot = activity.recipient.id if activity.recipient else None
        if any(m.id == bot for m in activity.members_removed or []):
            await self._forget(context)

    async def _on_installation(self, context: TurnContext, _: TurnState) -> None:
        action = (context.activity.action or "").lower()
        if action.startswith("add"):
            await self._remember(context)
        elif action.startswith("remove"):
            await self._forget(context)

    async def _remember(self, context: TurnContext) -> None:
        activity = context.activity
        tenant = translate.tenant_of(activity)
        channel = translate.channel_id_of(activity)
        if tenant is None or channel is None:
            return  # a personal or group chat: nothing to post alerts to
        reference = activity.get_conversation_reference()
        reference.conversation.id = channel  # the channel itself, not a thread in it
        reference.activity_id = None
        text = reference.model_dump_json(by_alias=True, exclude_none=True)
        team = translate.team_id_of(activity)

        async def store() -> bool:
            async with self._tx.write() as uow:
                return await uow.channels.remember(
                    "teams", tenant, channel, team_id=team, reference=text, at=self._now()
                )

        if await self._tx.retry(store):
            log.info("teams: installed in tenant=%s channel=%s team=%s", tenant, channel, team)

    async def _forget(self, context: TurnContext) -> None:
        activity = context.activity
        tenant = translate.tenant_of(activity)
        channel = translate.channel_id_of(activity)
        if tenant is None or channel is None:
            return
        async with self._tx.write() as uow:
            gone = await uow.channels.forget("teams", tenant, channel)
        if gone:
            log.info("teams: removed from tenant=%s channel=%s", tenant, channel)

    # --- what nobody planned -------------------------------------------------------------

    async def _on_error(self, context: TurnContext, error: Exception) -> None:
        """One ERROR line with a reference, the ids and the trace; the person gets one
        sentence with the same reference, never the trace."""
        reference = uuid.uuid4().hex[:8]
        activity = context.activity
        who = activity.from_property
        log.error(
            "teams: turn failed reference=%s tenant=%s user=%s conversation=%s activity=%s",
            reference,
            translate.tenant_of(activity),
            who.aad_object_id if who else None,
            activity.conversation.id if activity.conversation else None,
            activity.id,
            exc_info=error,
        )
        try:
            await context.send_activity(cards.activity(failure(reference)))
        except Exception as e:  # the connector itself may be what failed
            log.warning("teams: could not send the failure reference=%s: %s", reference, _why(e))


async def _patiently[T](send: Callable[[], Awaitable[T]]) -> T:
    """Teams throttles with 429 and Retry-After: wait as asked (briefly) and try again."""
    for attempt in range(1, SEND_TRIES + 1):
        try:
            return await send()
        except aiohttp.ClientResponseError as e:
            if e.status != 429 or attempt == SEND_TRIES:
                raise
            wait = retry_after(e.headers)
            await asyncio.sleep(min(MAX_WAIT_S, wait if wait is not None else 0.5 * attempt))
    raise AssertionError("unreachable")


def _why(error: Exception) -> str:
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status}"
    return type(error).__name__


def _auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    if settings.teams_client_id is None:
        return AgentAuthConfiguration(anonymous_allowed=True)
    secret = settings.CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET
    return AgentAuthConfiguration(
        client_id=settings.teams_client_id,
        tenant_id=settings.CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID,
        client_secret=None if secret is None else secret.get_secret_value(),
    )
