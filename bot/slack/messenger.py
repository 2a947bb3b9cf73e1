"""Slack's `Messenger`: a message posted unasked (`chat.postMessage`) and edited later
(`chat.update`), through the edge's own Web API client, built without retry handlers so that
each call is exactly one attempt and the outbox decides what happens after a failure. A
reply's charts follow the message as an uploaded image (`files_upload_v2`)."""

from __future__ import annotations

import logging
from typing import Literal

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.report_charts import drawn
from bot.slack import blocks
from handlers.alerts.messenger import DeliveryFailed, Destination, Posted
from handlers.chat.replies import Chart, Reply

log = logging.getLogger(__name__)

PERMANENT = frozenset(
    {
        # the channel or person cannot be reached
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "user_disabled",
        "account_inactive",
        "messages_tab_disabled",
        # the message to edit is gone or no longer ours to edit
        "cant_update_message",
        "message_not_found",
        "edit_window_closed",
        # the workspace refused the bot
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
        "access_denied",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        # the message itself is refused, and would be again
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "invalid_charset",
        "invalid_form_data",
        "too_many_attachments",
    }
)
"""Slack's error codes that no retry can turn into a success. Any other code (internal_error,
service_unavailable, one Slack adds later) counts as transient: retried and, if it persists,
parked by the outbox, rather than an alert dropped at its first hiccup."""


class SlackMessenger:
    """One workspace's bot token, in the edge's `AsyncWebClient`."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    @property
    def platform(self) -> Literal["slack"]:
        return "slack"

    async def post(self, to: Destination, message: Reply) -> Posted:
        """To a channel id, or a user id: Slack posts that in the person's DM with the app,
        and answers with the DM's own channel id."""
        try:
            sent = await self._client.chat_postMessage(channel=to.id, **blocks.reply(message))
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as e:
            raise _failure(e) from e
        posted = Posted(conversation=sent["channel"], message=sent["ts"])
        if message.chart is not None:
            try:
                await upload_chart(self._client, posted.conversation, message.chart)
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as e:
                # The message, the substance, is delivered: posting it again for its image
                # would say it twice. The charts are also in `caseload-bot report`.
                log.warning("slack: chart not uploaded channel=%s: %s", to.id, _failure(e).reason)
        return posted

    async def edit(self, to: Destination, posted: Posted, message: Reply) -> None:
        try:
            await self._client.chat_update(
                channel=posted.conversation, ts=posted.message, **blocks.reply(message)
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as e:
            raise _failure(e) from e


async def upload_chart(client: AsyncWebClient, channel: str, chart: Chart) -> None:
    """Into a conversation the bot is in: a channel, or its DM with a person."""
    await client.files_upload_v2(
        channel=channel,
        file=await drawn(chart),
        filename="caseload-report.png",
        title=chart.title,
        alt_txt=f"{chart.title}: caseload against the cap, breaches by week, work held",
    )


def _failure(error: Exception) -> DeliveryFailed:
    """The reason is Slack's error code or the HTTP status, never what Slack said in words."""
    if not isinstance(error, SlackApiError):  # no answer at all: a connection or a timeout
        return DeliveryFailed(type(error).__name__)
    response = error.response
    status = response.status_code
    if status == 429:
        return DeliveryFailed("HTTP 429", retry_after=_retry_after(response.headers))
    code = response.data.get("error") if isinstance(response.data, dict) else None
    if status >= 500 or not isinstance(code, str):
        return DeliveryFailed(f"HTTP {status}")
    return DeliveryFailed(code, permanent=code in PERMANENT)


def _retry_after(headers: dict[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None
