"""A fake Slack on a local port, for the real `slack_sdk` clients to talk to.

It answers the Web API methods the bot calls as Slack documents them, records every call
(method, arguments, token), serves response_url endpoints, and can be told to refuse a method
with a status (429 with Retry-After, 500) or with one of Slack's error codes. For Socket Mode it hands out a websocket URL of its
own, says hello, sends the envelopes it is given and records the acks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.chat.world import WORKSPACE

TEAM_ID = WORKSPACE
BOT_USER_ID = "UBOT"


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    answer: dict[str, Any] | None = None
    """What the fake answered when it accepted the call (a posted message's `ts`)."""


@dataclass(frozen=True)
class Refusal:
    status: int
    retry_after: int | None = None
    error: str | None = None
    """Slack's own error code, answered as `{"ok": false, "error": ...}` with `status`."""


def dm_of(user: str) -> str:
    """The channel id of the bot's DM with a person, as Slack answers a post to their user id."""
    return f"D{user[1:]}"


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: dict[str, list[dict[str, Any]]] = {}
        """What was posted to each response_url, by its name."""
        self.refusals: dict[str, Refusal] = {}
        """Method, `METHOD:CHANNEL` (that method to that channel only) or `respond/NAME` ->
        how to refuse it, until taken out."""
        self.acks: list[dict[str, Any]] = []
        """Socket Mode acks, as the client sent them."""
        self.envelopes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.socket_connected = asyncio.Event()
        self.socket_closed = asyncio.Event()
        self.ack_arrived = asyncio.Event()
        self.uploads: dict[str, bytes] = {}
        """Files uploaded, by the id `files.getUploadURLExternal` gave them."""
        self._ts = itertools.count(1)
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/socket", self._socket)
        self.server = TestServer(app)

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("/api/"))

    def response_url(self, name: str) -> str:
        return str(self.server.make_url(f"/respond/{name}"))

    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def refuse(
        self, method: str, status: int, retry_after: int | None = None, error: str | None = None
    ) -> None:
        self.refusals[method] = Refusal(status, retry_after, error)

    # --- the Web API ---------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or None
        token = token or args.get("token")
        refused = self._refused(f"{method}:{args.get('channel')}") or self._refused(method)
        if refused is not None:
            self.calls.append(Call(method, args, token))
            return refused
        answer = {"ok": True, **self._answer(method, args)}
        self.calls.append(Call(method, args, token, answer))
        return web.json_response(answer)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        if method == "auth.test":
            return {"user_id": BOT_USER_ID, "bot_id": "BBOT", "team_id": TEAM_ID, "user": "bot"}
        if method == "chat.postMessage":
            channel = dm_of(args["channel"]) if args["channel"][0] in "UW" else args["channel"]
            return {"channel": channel, "ts": ts, "message": {"text": args["text"]}}
        if method == "chat.update":
            return {"channel": args["channel"], "ts": args["ts"], "text": args["text"]}
        if method == "chat.postEphemeral":
            return {"message_ts": ts}
        if method in {"views.open", "views.publish"}:
            return {"view": {"id": f"V{ts}", **args["view"]}}
        if method == "conversations.open":
            return {"channel": {"id": dm_of(args["users"])}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{ts.replace('.', '')}"
            return {
                "upload_url": str(self.server.make_url(f"/upload/{file_id}")),
                "file_id": file_id,
            }
        if method == "files.completeUploadExternal":
            return {"files": [{"id": f["id"], "title": f.get("title")} for f in args["files"]]}
        if method == "apps.connections.open":
            return {"url": str(self.server.make_url("/socket")).replace("http", "ws", 1)}
        return {}

    def _refused(self, key: str) -> web.Response | None:
        refusal = self.refusals.get(key)
        if refusal is None:
            return None
        headers = {} if refusal.retry_after is None else {"Retry-After": str(refusal.retry_after)}
        if refusal.error is not None:
            return web.json_response(
                {"ok": False, "error": refusal.error}, status=refusal.status, headers=headers
            )
        if refusal.status == 429:
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers=headers
            )
        return web.Response(status=refusal.status, text="Internal Server Error", headers=headers)

    async def _upload(self, request: web.Request) -> web.Response:
        """Where `files.getUploadURLExternal` sends the file's bytes."""
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - uploaded")

    # --- response_url --------------------------------------------------------------------

    async def _respond(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.responses.setdefault(name, []).append(await request.json())
        return self._refused(f"respond/{name}") or web.Response(text="ok")

    # --- Socket Mode ---------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1})
        self.socket_connected.set()
        sender = asyncio.create_task(self._send_envelopes(ws))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self.acks.append(json.loads(message.data))
                    self.ack_arrived.set()
        finally:
            sender.cancel()
            self.socket_closed.set()
        return ws

    async def _send_envelopes(self, ws: web.WebSocketResponse) -> None:
        while True:
            await ws.send_json(await self.envelopes.get())


async def _arguments(request: web.Request) -> dict[str, Any]:
    """The SDK sends JSON to some methods, form fields or query parameters to others;
    `blocks`, `view` and `files` there are JSON strings."""
    if request.content_type == "application/json":
        args: dict[str, Any] = await request.json()
        return args
    form = {key: str(value) for key, value in (await request.post()).items()}
    form.update(request.query)
    return {
        key: json.loads(value) if key in {"blocks", "view", "files"} else value
        for key, value in form.items()
    }
