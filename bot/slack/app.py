"""The Slack edge: a bolt `AsyncApp` whose listeners translate a payload in, ask
`handlers.chat.respond`, and render the reply out. No listener decides a word.

Bolt runs with `process_before_response`: a listener runs to its end before bolt answers, so
bolt never polls for the ack (it sleeps 10 ms at a time otherwise). A slash command's reply is
the ack itself (one not ready within ACK_WITHIN_S follows through its response_url); every
other listener acks at once and leaves the answer, the posting and the notices to a task of
its own, so Slack always has its ack within three seconds. Signatures are checked by
`route.py`, before bolt reads the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack import blocks, translate
from bot.slack.messenger import SlackMessenger, upload_chart
from bot.slack.translate import Incoming
from handlers.chat.commands import Asker
from handlers.chat.replies import ActionKind, Reply
from handlers.chat.turn import failure, respond
from handlers.ports import Transactions

log = logging.getLogger("caseload_bot.slack")

COMMANDS = ("/allocate", "/caseload")
EVENTS = ("app_home_opened", "app_mention", "message")
"""What the bot listens to; `manifest.yaml` subscribes to exactly these (a test checks)."""

ACK_WITHIN_S = 2.5
"""Slack tells the person the command failed when its ack takes over 3 s: a slash command's
answer not ready by then is acked empty and follows through its response_url."""
DRAIN_S = 10.0
"""At shutdown, how long answers still being sent may take before they are cancelled."""

T = TypeVar("T")


class SlackEdge:
    """One workspace, one bot token. `start` and `close` belong to the server's lifetime."""

    def __init__(
        self,
        settings: Settings,
        tx: Transactions,
        now: Callable[[], dt.datetime],
        metrics: Metrics,
    ) -> None:
        assert settings.SLACK_BOT_TOKEN is not None, "Settings require it with any Slack mode"
        self.client = AsyncWebClient(
            token=settings.SLACK_BOT_TOKEN.get_secret_value(),
            base_url=settings.SLACK_API_URL,
            retry_handlers=[],  # retries and pacing belong to the outbox, not to each call
        )
        self.messenger = SlackMessenger(self.client)
        """Alerts' way out: one attempt per call, over this client (the outbox retries)."""
        secret = settings.SLACK_SIGNING_SECRET
        self.verifier = None if secret is None else SignatureVerifier(secret.get_secret_value())
        """HTTP mode's: `route.py` checks every request with it before bolt reads a byte."""
        self.bolt = AsyncApp(
            name="caseload-bot",
            client=self.client,
            request_verification_enabled=False,
            process_before_response=True,
            raise_error_for_unhandled_request=True,
            logger=_bolt_logger(),
        )
        self._app_token = settings.SLACK_APP_TOKEN
        self._socket_mode: AsyncSocketModeHandler | None = None
        self._dialing: asyncio.Task[None] | None = None
        self._tx = tx
        self._now = now
        self._metrics = metrics
        self._tasks: set[asyncio.Task[Any]] = set()
        for command in COMMANDS:
            self.bolt.command(command)(self._slash)
        self.bolt.event("app_mention")(self._message)
        self.bolt.event("message")(self._message)
        self.bolt.event("app_home_opened")(self._home)
        for kind in ActionKind:
            self.bolt.action(kind.value)(self._interaction)
            self.bolt.view(kind.value)(self._submission)
        self.bolt.error(self._error)

    async def dispatch(self, request: AsyncBoltRequest) -> BoltResponse:
        return await self.bolt.async_dispatch(request)

    async def start(self) -> None:
        """Dials Slack when Socket Mode is configured, without holding up the server: the
        SDK goes on retrying, and logging, for as long as Slack cannot be reached."""
        if self._app_token is not None:
            self._socket_mode = AsyncSocketModeHandler(
                self.bolt, self._app_token.get_secret_value(), web_client=self.client
            )
            self._dialing = asyncio.create_task(
                self._socket_mode.connect_async()  # type: ignore[no-untyped-call]
            )

    async def drain(self) -> None:
        """Waits until every answer and notice started so far has been sent (or has failed)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Hangs up Socket Mode, then gives what is still being sent DRAIN_S to finish."""
        if self._socket_mode is not None and self._dialing is not None:
            await self._socket_mode.close_async()  # type: ignore[no-untyped-call]
            self._dialing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dialing
            self._socket_mode = self._dialing = None
        try:
            async with asyncio.timeout(DRAIN_S):
                await self.drain()
        except TimeoutError:
            log.warning("slack: %d answers unsent at shutdown", len(self._tasks))
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- listeners: translate in, then answer -----------------------------------------

    async def _slash(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        incoming = translate.slash(body)
        answer = self._later(self._answer(incoming))
        await asyncio.wait({answer}, timeout=ACK_WITHIN_S)
        if not answer.done():
            await ack()
            self._later(self._logged(self._deliver(answer, incoming), incoming.asker))
            return
        reply = answer.result()
        if reply is None:
            await ack()
            return
        await ack(response_type=_response_type(reply), **blocks.reply(reply))
        if reply.notices or reply.chart:  # most answers need nothing more: no task for them
            self._later(self._logged(self._follow_up(reply, incoming), incoming.asker))

    async def _message(
        self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        incoming = translate.message(body, context.bot_user_id)
        if incoming is not None:
            self._converse(incoming)

    async def _home(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        incoming = translate.home(body)
        if incoming is not None:
            self._later(self._logged(self._publish_home(incoming), incoming.asker))

    async def _interaction(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        self._converse(translate.action(body))

    async def _submission(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # closes the modal; the answer replaces the message its button was on
        self._converse(translate.submission(body))

    async def _error(self, error: Exception, body: dict[str, Any]) -> BoltResponse:
        """Whatever a listener did not expect: logged with a reference, never a 500 (Slack
        would resend an event, and show a person its own error text)."""
        if isinstance(error, BoltUnhandledRequestError):
            log.warning("slack: nothing listens to type=%s team=%s", body.get("type"), _team(body))
            return BoltResponse(status=404, body="")
        reference = _reference()
        log.error(
            "slack: request failed reference=%s type=%s team=%s",
            reference,
            body.get("type") or body.get("command"),
            _team(body),
            exc_info=error,
        )
        if "command" not in body:
            return BoltResponse(status=200, body="")
        answer = failure(reference)
        return await AsyncAck()(  # type: ignore[no-untyped-call]
            response_type=_response_type(answer), **blocks.reply(answer)
        )

    # --- after the ack -------------------------------------------------------------------

    def _converse(self, incoming: Incoming) -> None:
        self._later(self._logged(self._deliver(self._answer(incoming), incoming), incoming.asker))

    async def _answer(self, incoming: Incoming) -> Reply | None:
        """The reply, or the failure reply with a reference that is also in the log."""
        started = time.perf_counter()
        command = type(incoming.command).__name__
        reply: Reply | None
        try:
            reply = await respond(
                self._tx,
                incoming.asker,
                incoming.command,
                self._now(),
                delivery=incoming.delivery,
            )
        except Exception:
            reference = _reference()
            log.exception(
                "slack: command failed reference=%s team=%s user=%s command=%s",
                reference,
                incoming.asker.tenant,
                incoming.asker.user_id,
                command,
            )
            reply = failure(reference)
        self._metrics.chat_answered("slack", command, reply, time.perf_counter() - started)
        return reply

    async def _deliver(self, answer: Awaitable[Reply | None], incoming: Incoming) -> None:
        reply = await answer
        if reply is not None:
            await self._send(reply, incoming)
            await self._follow_up(reply, incoming)

    async def _send(self, reply: Reply, incoming: Incoming) -> None:
        where = incoming.where
        if reply.form is not None and where.trigger_id is not None:
            await self.client.views_open(
                trigger_id=where.trigger_id, view=blocks.modal(reply.form, where)
            )
        elif where.response_url is not None:
            sent = await AsyncWebhookClient(where.response_url, retry_handlers=[]).send(
                replace_original=reply.replaces,
                response_type=_response_type(reply),
                **blocks.reply(reply),
            )
            if sent.status_code != 200:
                raise ResponseUrlRefused(sent.status_code)
        elif where.channel is not None and not where.in_dm and reply.private:
            await self.client.chat_postEphemeral(
                channel=where.channel, user=incoming.asker.user_id, **blocks.reply(reply)
            )
        else:
            await self.client.chat_postMessage(
                channel=where.channel or incoming.asker.user_id, **blocks.reply(reply)
            )

    async def _publish_home(self, incoming: Incoming) -> None:
        reply = await self._answer(incoming)
        if reply is not None:
            await self.client.views_publish(user_id=incoming.asker.user_id, view=blocks.home(reply))

    async def _follow_up(self, reply: Reply, incoming: Incoming) -> None:
        """What goes after the answer: its notices to others, and its charts to the asker
        alone (in their DM with the bot, like the answer, private)."""
        await self._notify(reply)
        if reply.chart is not None:
            opened = await self.client.conversations_open(users=incoming.asker.user_id)
            await upload_chart(self.client, opened["channel"]["id"], reply.chart)

    async def _notify(self, reply: Reply) -> None:
        """Each Slack address of each notice, in the bot's DM with them. A failure is logged
        and the others still go (the durable outbox, with retries, is to come)."""
        for notice in reply.notices:
            for to in notice.to:
                if to.platform != "slack":
                    continue
                try:
                    await self.client.chat_postMessage(
                        channel=to.user_id, **blocks.message(notice.text, notice.blocks)
                    )
                except Exception:
                    log.exception(
                        "slack: notice not delivered reference=%s team=%s user=%s",
                        _reference(),
                        to.tenant,
                        to.user_id,
                    )

    def _later(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Runs `work` beyond this request; kept until done, so that `drain` can wait for it."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _logged(work: Coroutine[Any, Any, None], asker: Asker) -> None:
        try:
            await work
        except Exception:
            log.exception(
                "slack: answer not delivered reference=%s team=%s user=%s",
                _reference(),
                asker.tenant,
                asker.user_id,
            )


class ResponseUrlRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"the response_url answered {status}")


def _response_type(reply: Reply) -> str:
    return "ephemeral" if reply.private else "in_channel"


def _reference() -> str:
    """Short enough to read out on the phone; the log line with it has the rest."""
    return secrets.token_hex(4)


def _team(body: dict[str, Any]) -> str | None:
    team = body.get("team_id") or body.get("team")
    return team.get("id") if isinstance(team, dict) else team


def _bolt_logger() -> logging.Logger:
    """Bolt logs at INFO the whole body of a request whose signature fails, and a body holds
    what people typed: its loggers start at WARNING."""
    logger = logging.getLogger("caseload_bot.slack.bolt")
    logger.setLevel(logging.WARNING)
    return logger
