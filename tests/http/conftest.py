"""The HTTP harness: the real app (`bot.app.build_app`) on aiohttp's test server, over the
`db` fixture (SQLite always, PostgreSQL too when TEST_DATABASE_URL is set).

Webhooks are signed with the real Standard Webhooks algorithm; organisations are created as
`caseload-bot org create` creates them (with their first audit row); tokens as
`caseload-bot token create` does.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from standardwebhooks import Webhook

from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings
from handlers import admin
from policy import parse_policy, preset_text
from storage.db import Database
from storage.models import ApiToken, AuditEntry, Base
from storage.repositories import Storage

SECRET = "whsec_" + base64.b64encode(b"caseload-bot http tests secret!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody else's webhook secret!!").decode()

STOKE = "stoke"
"""An organisation on the stoke-childrens preset (no CP before the six-month review, 16 children)."""
OTHER = "dorset"
"""A second organisation, to show that tokens see only their own."""

TODAY = dt.datetime.now(dt.UTC)
"""Events happen shortly before now: breaches are evaluated on today's date."""


def at(minutes: int) -> dt.datetime:
    """An event time `minutes` after a fixed point two hours ago (so every event is in the past)."""
    return TODAY.replace(microsecond=0) - dt.timedelta(hours=2) + dt.timedelta(minutes=minutes)


def event(
    type_: str, data: dict[str, Any], *, org: str = STOKE, when: dt.datetime | None = None
) -> dict[str, Any]:
    return {
        "type": type_,
        "occurred_at": (when or at(0)).isoformat(),
        "org": org,
        "data": data,
    }


BATCH_PATH = "/webhooks/case-events:batch"


def batch(*events: dict[str, Any], org: str = STOKE, prefix: str = "ev") -> dict[str, Any]:
    """A batch of `event()`s, each given its own id (`ev-0`, `ev-1`, ... unless it has one)
    and its `org` moved to the batch's."""
    items = []
    for i, value in enumerate(events):
        item = {"id": f"{prefix}-{i}", **value}
        del item["org"]
        items.append(item)
    return {"org": org, "events": items}


def body_of(value: dict[str, Any] | bytes | str) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode()


def sign(
    body: bytes,
    *,
    secret: str = SECRET,
    msg_id: str | None = None,
    timestamp: dt.datetime | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, exactly as a sender computes them.

    UTF-8 bodies are signed by `standardwebhooks` itself; other bytes (which that package
    cannot sign) by the specification's HMAC over the raw bytes, as a sender in another
    language would.
    """
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = timestamp or dt.datetime.now(dt.UTC)
    try:
        signature = Webhook(secret).sign(msg_id, timestamp, body.decode())
    except UnicodeDecodeError:
        signature = sign_bytes(body, secret=secret, msg_id=msg_id, timestamp=timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def sign_bytes(body: bytes, *, secret: str, msg_id: str, timestamp: dt.datetime) -> str:
    """The specification's `v1` signature: HMAC-SHA256 of `id.timestamp.body` with the secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{math.floor(timestamp.timestamp())}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class Clock:
    """The server's time: now, moved on by a test that needs a later day."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


class Api:
    """The test client plus the database behind it."""

    def __init__(self, client: TestClient[Any, Any], db: Database, clock: Clock) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.storage = Storage(db)
        """For looking at what the server stored, and for setting up as commands do."""

    async def deliver(
        self,
        value: dict[str, Any] | bytes | str,
        *,
        msg_id: str | None = None,
        secret: str = SECRET,
    ) -> ClientResponse:
        """POST one event, signed now (the server's now) with `secret`."""
        body = body_of(value)
        headers = sign(body, msg_id=msg_id, secret=secret, timestamp=self.clock())
        return await self.client.post("/webhooks/case-events", data=body, headers=headers)

    async def deliver_batch(
        self, value: dict[str, Any] | bytes | str, *, secret: str = SECRET
    ) -> ClientResponse:
        """POST a batch, signed now (the server's now) with `secret`."""
        body = body_of(value)
        headers = sign(body, secret=secret, timestamp=self.clock())
        # A stream: aiohttp warns that a large body given as bytes blocks the event loop.
        return await self.client.post(BATCH_PATH, data=io.BytesIO(body), headers=headers)

    async def accept(self, value: dict[str, Any], *, msg_id: str | None = None) -> dict[str, Any]:
        """Deliver an event that must be accepted; its JSON answer."""
        response = await self.deliver(value, msg_id=msg_id)
        answer: dict[str, Any] = await response.json()
        assert response.status == 202, answer
        return answer

    async def get(self, path: str, token: str | None, **params: str) -> ClientResponse:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return await self.client.get(path, headers=headers, params=params)

    async def decide(self, token: str | None, body: Any) -> ClientResponse:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.client.post("/api/v1/decisions", data=data, headers=headers)


async def create_org(storage: Storage, org_id: str, preset: str) -> None:
    """As `caseload-bot org create --id ORG --policy PRESET` does it."""
    source, text = preset_text(preset)
    policy = parse_policy(text, source, parent=preset_text)
    now = dt.datetime.now(dt.UTC)
    await admin.create_organisation(storage, org_id, org_id, policy, preset, text, "cli", now)


async def create_token(storage: Storage, org_id: str) -> str:
    """As `caseload-bot token create --org ORG` does it."""
    token, _ = await admin.create_token(storage, org_id, "tests", "cli", dt.datetime.now(dt.UTC))
    return token


async def snapshot(db: Database) -> dict[str, list[str]]:
    """Every row of every table of the model, in a stable order: equal means nothing changed.

    A token's `last_used_at` is left out: presenting a token is a use of it, whatever the
    answer to the request was.
    """
    out: dict[str, list[str]] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c is not ApiToken.__table__.c.last_used_at]
            rows = (await session.execute(select(*columns))).all()
            out[table.name] = sorted(repr(tuple(row)) for row in rows)
    return out


async def audit_kinds(db: Database, org_id: str = STOKE) -> list[str]:
    async with db.read() as session:
        kinds = await session.scalars(
            select(AuditEntry.kind).where(AuditEntry.org_id == org_id).order_by(AuditEntry.seq)
        )
        return list(kinds)


async def audit_rows(db: Database, kind: str, org_id: str = STOKE) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.org_id == org_id, AuditEntry.kind == kind)
            .order_by(AuditEntry.seq)
        )
        return [{"actor": r.actor, **json.loads(r.data)} for r in rows]


async def audit_problems(db: Database) -> tuple[object, ...]:
    return await admin.verify_audit(Storage(db))


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    """The whole app on a real test server, with organisations `stoke` and `dorset`."""
    storage = Storage(db)
    await create_org(storage, STOKE, "stoke-childrens")
    await create_org(storage, OTHER, "dorset-childrens")
    settings = Settings(CASE_EVENTS_SECRET=SECRET)
    clock = Clock()
    services = bootstrap(settings, database=db, now=clock)
    async with TestClient(TestServer(build_app(services))) as client:
        yield Api(client, db, clock)


@dataclass(frozen=True)
class Live:
    """The app on a real port: where raw sockets and outside tools connect."""

    host: str
    port: int
    token: str
    """A bearer token of `stoke`."""
    db: Database

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


LIVE_BODY_READ_TIMEOUT_S = 1.0
PATIENCE = LIVE_BODY_READ_TIMEOUT_S + 10
"""A generous bound on anything the live server should do within its body timeout."""


@pytest.fixture
async def live(db: Database) -> AsyncIterator[Live]:
    """The whole app served as `caseload-bot serve` serves it, with organisations `stoke`
    and `dorset` and a body read timeout cut to one second.

    `web.run_app`'s own runner, not aiohttp's TestServer: the test server cancels a handler
    whose client has gone, so it would hide what the product does then.
    """
    storage = Storage(db)
    await create_org(storage, STOKE, "stoke-childrens")
    await create_org(storage, OTHER, "dorset-childrens")
    token = await create_token(storage, STOKE)
    settings = Settings(CASE_EVENTS_SECRET=SECRET, BODY_READ_TIMEOUT_S=LIVE_BODY_READ_TIMEOUT_S)
    runner = web.AppRunner(build_app(bootstrap(settings, database=db)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Live(host, port, token, db)
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    """Names in lower case."""
    body: Any


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One HTTP/1.1 answer with a Content-Length, read off a raw socket."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), PATIENCE)
    return Answer(int(status_line.split()[1]), headers, json.loads(body))


async def raw_request(live: Live, request: bytes) -> Answer:
    """Send bytes exactly as given (headers need not be UTF-8) and read the answer."""
    reader, writer = await asyncio.open_connection(live.host, live.port)
    try:
        writer.write(request)
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


def asye_start(days_ago: int) -> str:
    return (dt.date.today() - dt.timedelta(days=days_ago)).isoformat()


def worker(
    ref: str, *, roles: tuple[str, ...] = ("nqsw",), asye_days_ago: int | None = 40
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ref": ref,
        "name": f"Worker {ref}",
        "roles": list(roles),
        "team_ref": "T-1",
    }
    if asye_days_ago is not None:
        data["asye"] = {"start": asye_start(asye_days_ago)}
    return data


SAMPLES: dict[str, dict[str, Any]] = {
    "team.upserted": {
        "ref": "T-1",
        "name": "Assessment 1",
        "kind": "assessment",
        "channels": {"slack": "C0123ABC", "teams": "19:abc@thread.tacv2"},
    },
    "worker.upserted": {
        **worker("NQ-1"),
        "manager_ref": "TM-1",
        "chat": {"slack_team_id": "T0001", "slack_user_id": "U0001"},
    },
    "worker.leave_recorded": {
        "worker_ref": "NQ-1",
        "from": "2025-02-01",
        "to": "2025-02-10",
        "reason": "sickness",
    },
    "worker.review_recorded": {
        "worker_ref": "NQ-1",
        "month": 3,
        "passed": True,
        "on": "2025-04-01",
    },
    "worker.agreement_recorded": {
        "worker_ref": "NQ-1",
        "agreement": "complex_working_agreement",
        "on": "2025-04-01",
    },
    "worker.supervision_recorded": {"worker_ref": "NQ-1", "on": "2025-04-02"},
    "case.upserted": {
        "ref": "C-1",
        "work_type": "child_in_care",
        "children": 2,
        "flags": ["settled_placement"],
        "external": False,
    },
    "allocation.started": {
        "case_ref": "C-1",
        "worker_ref": "NQ-1",
        "role": "lead",
        "from": "2025-04-02",
    },
    "allocation.ended": {"case_ref": "C-1", "worker_ref": "NQ-1", "to": "2025-05-01"},
    "case.closed": {"ref": "C-1"},
}
"""One event of each type, in an order the server accepts them (every field used somewhere)."""
