"""A fake Bot Connector service: the part of Teams' REST API the bot calls, on a local port,
recording every call; told to, it answers the next calls with a status (429, 403, 500...)."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        parts = self.path.strip("/").split("/")
        if self.method == "PUT":
            return "update"
        if parts[-1] == "conversations":
            return "create"
        if parts[-1] == "activities":
            return "send"
        if "members" in parts:
            return "member"
        return "reply"

    @property
    def conversation(self) -> str:
        parts = self.path.strip("/").split("/")
        return parts[2] if len(parts) > 2 else ""


@dataclass
class FakeConnector:
    members: dict[str, str] = field(default_factory=dict)
    """Teams user id: AAD object id, for the members endpoint."""
    calls: list[Call] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    """Statuses for the next calls, first first (429 comes with Retry-After: `retry_after`)."""
    retry_after: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._activity)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._activity)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._activity)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        return app

    def of(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]

    def cards(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The Adaptive Cards sent (or updated), in order."""
        out = []
        for call in self.calls:
            if kind is not None and call.kind != kind:
                continue
            for attachment in call.body.get("attachments") or []:
                if attachment["contentType"] == "application/vnd.microsoft.card.adaptive":
                    out.append(attachment["content"])
        return out

    def images(self) -> list[bytes]:
        """The images sent inline (a data URI beside a card), decoded."""
        out = []
        for call in self.calls:
            for attachment in call.body.get("attachments") or []:
                if attachment["contentType"].startswith("image/"):
                    head, data = attachment["contentUrl"].split(",", 1)
                    assert head == f"data:{attachment['contentType']};base64", head
                    out.append(base64.b64decode(data))
        return out

    async def _record(self, request: web.Request) -> web.Response | None:
        body = await request.read()
        call = Call(request.method, request.path, json.loads(body) if body else {})
        if self.failures:
            status = self.failures.pop(0)
            self.calls.append(Call(request.method, request.path + f" -> {status}", call.body))
            headers = {"Retry-After": str(self.retry_after)} if status == 429 else {}
            return web.json_response(
                {"error": {"code": str(status)}}, status=status, headers=headers
            )
        self.calls.append(call)
        return None

    async def _create(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        member = self.calls[-1].body["members"][0]["id"]
        return web.json_response({"id": f"a:1on1-{member}"}, status=201)

    async def _activity(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        return web.json_response({"id": f"act-{next(self._ids)}"})

    async def _member(self, request: web.Request) -> web.Response:
        failed = await self._record(request)
        if failed is not None:
            return failed
        member = request.match_info["mid"]
        if member not in self.members:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        return web.json_response({"id": member, "aadObjectId": self.members[member]})
