"""Alerts benchmark (issue 9): how soon a breach reaches the team's channel, and whether the
outbox delivers every alert through replicas killed and a platform that fails.

The servers are the product's own app (`build_app` + `add_alerts`, as `caseload-bot serve`
runs them) in child processes, with a clock pinned to a working-day 10:00 in London that
moves with real time, so that alerts are due at once rather than at the next 09:00. Chat
goes to a fake Slack Web API or a fake Teams Bot Connector served by this process, through
the product's real slack_sdk / Agents SDK clients. The organisation is on the
stoke-childrens preset, sent in as signed webhooks: teams each with a channel, a manager per
team, NQSWs in months 2 to 4 each leading one child-in-need case, and no ASYE lead at all
(the one ASYE lead would be told of every breach privately, so one person's DMs would set
the pace). A `case.upserted` that makes a case child protection opens a breach (no child
protection before the six-month review), which tells the team's channel, the manager and
the NQSW.

(1) latency: one server (SQLite, or `--database-url`), Slack over HTTP, `--events` step-ups
    at `--rate` a second spread over `--teams` teams so that no conversation is asked for
    more than the worker's one message a second; from each webhook sent until the fake
    Slack receives the `chat.postMessage` to that team's channel naming that case
    (issue 9: p99 within 5 s, target 2 s).
(2) faults: `--replicas` servers on one PostgreSQL (a fresh schema, dropped after) with a
    short lease (`--lease`), `--breaches` breaches (two per step-up), the fake answering 20% of sends with 500
    and 10% with 429 + Retry-After: 1, one replica killed with SIGKILL once 30% of the
    messages have arrived. Counted: each (conversation, case) received at least once,
    copies received more than once against what the killed replica had claimed, the outbox
    left at the end, and the time to deliver everything. On Slack and on Teams.

Loopback only; every wait has a bound. Usage:

    .venv/bin/python bench/alerts_bench.py                      # both, the issue's figures
    .venv/bin/python bench/alerts_bench.py --only faults --platform teams --breaches 200
    .venv/bin/python bench/alerts_bench.py --json alerts.json   # and the figures as JSON
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import multiprocessing as mp
import os
import platform as host
import random
import re
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web
from figures import NO_PG, Figure, add_json_option, write_json
from ingest_bench import (
    PG_URL,
    SECRET,
    Sender,
    Server,
    _database,
    bounded,
    pct,
    pg_reachable,
    prepare,
)
from slack_bench import _run
from sqlalchemy import text

from bot.policy_source import read_policy
from policy.calendar import LONDON, first_working_day_from

Platform = Literal["slack", "teams"]
Key = tuple[str, str, str]
"""(conversation, case ref, rule): one alert (or note) as the platform received it."""

CASE = re.compile(r"\bC-\d{5}\b")
RULE = re.compile(r"Rule: (.{1,40})")
"""The start of the rule's summary, which every alert and note shows."""
SLACK_TEAM = "TBENCH"
TENANT = "bench-tenant"
BOT = "28:caseload-bot-bench"
SENDS = {"chat.postMessage", "chat.update"}
PRESET = "stoke-childrens"
KILL_AT = 0.3
"""The share of the expected messages received when a replica is killed."""
LATENCY_TARGET_MS, LATENCY_MUST_MS = 2000.0, 5000.0
"""Issue 9: a breach in the team's channel within 5 s at p99, 2 s the target."""


# --- time --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinnedClock:
    """10:00 London on a working day, moving with real time; the same in every process
    (each reads time.time()), so replicas agree on leases and due times."""

    base: dt.datetime
    anchor: float

    def __call__(self) -> dt.datetime:
        return self.base + dt.timedelta(seconds=time.time() - self.anchor)

    @classmethod
    def working_morning(cls) -> PinnedClock:
        day = first_working_day_from(dt.datetime.now(LONDON).date())
        base = dt.datetime.combine(day, dt.time(10), tzinfo=LONDON).astimezone(dt.UTC)
        return cls(base, time.time())


# --- the organisation --------------------------------------------------------------------


def step_up_rules() -> tuple[str, ...]:
    """The preset's rules a child protection lead breaks before the six-month review (Stoke:
    two, so each step-up opens two breaches), as `RULE` reads them from a message."""
    policy, _ = read_policy(PRESET)
    return tuple(
        g.summary[:40]
        for g in policy.gates
        if "child_protection" in (g.applies_to.work_types or ())
    )


@dataclass(frozen=True)
class Org:
    """Teams with a channel and a manager each; NQSW i in team i % teams, leading case i."""

    platform: Platform
    teams: int
    nqsws: int

    def team_of(self, i: int) -> int:
        return i % self.teams

    def channel(self, t: int) -> str:
        return f"CT{t:03d}" if self.platform == "slack" else f"19:bench-{t:03d}@thread.tacv2"

    def chat(self, who: str) -> dict[str, str]:
        if self.platform == "slack":
            return {"slack_team_id": SLACK_TEAM, "slack_user_id": f"U{who}"}
        return {"teams_tenant_id": TENANT, "teams_aad_object_id": f"aad-{who}"}

    def dm(self, who: str) -> str:
        """The conversation a person's private message arrives in, as the fake records it."""
        return f"U{who}" if self.platform == "slack" else f"a:1on1-aad-{who}"

    def team(self, t: int) -> dict[str, Any]:
        return {
            "ref": f"T-{t:03d}",
            "name": f"Team {t}",
            "kind": "assessment",
            "channels": {self.platform: self.channel(t)},
        }

    def manager(self, t: int) -> dict[str, Any]:
        ref = f"TM{t:03d}"
        return {
            "ref": ref,
            "name": f"Manager {t}",
            "roles": ["team_manager"],
            "team_ref": f"T-{t:03d}",
            "chat": self.chat(ref),
        }

    def nqsw(self, i: int, today: dt.date) -> dict[str, Any]:
        """Months 2, 3 or 4 of practice: before the six-month review."""
        ref, t = f"NQ{i:05d}", self.team_of(i)
        return {
            "ref": ref,
            "name": f"NQSW {i}",
            "roles": ["nqsw"],
            "team_ref": f"T-{t:03d}",
            "manager_ref": f"TM{t:03d}",
            "asye": {"start": (today - dt.timedelta(days=35 + 30 * (i % 3))).isoformat()},
            "chat": self.chat(ref),
        }

    @staticmethod
    def case(i: int, work_type: str) -> dict[str, Any]:
        return {"ref": f"C-{i:05d}", "work_type": work_type, "children": 1}

    def expected(self, i: int, rules: tuple[str, ...]) -> list[Key]:
        """Per breach: the team's channel, the manager privately, the NQSW's note."""
        case, t = f"C-{i:05d}", self.team_of(i)
        places = (self.channel(t), self.dm(f"TM{t:03d}"), self.dm(f"NQ{i:05d}"))
        return [(place, case, rule) for rule in rules for place in places]


def installed(org: Org, t: int, service_url: str) -> dict[str, Any]:
    """Teams adding the bot to team t's channel: the edge stores the conversation reference
    that proactive messages continue."""
    channel = org.channel(t)
    return {
        "type": "installationUpdate",
        "action": "add",
        "id": f"install-{t}",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": f"29:TM{t:03d}", "name": f"Manager {t}", "aadObjectId": f"aad-TM{t:03d}"},
        "conversation": {
            "id": f"{channel};messageid=1",
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TENANT,
        },
        "recipient": {"id": BOT, "name": "Caseload bot"},
        "channelData": {
            "tenant": {"id": TENANT},
            "channel": {"id": channel},
            "team": {"id": f"19:team-{t:03d}@thread.tacv2"},
        },
    }


async def seed(
    session: aiohttp.ClientSession,
    ports: list[int],
    org: Org,
    now: PinnedClock,
    service_url: str,
    concurrency: int = 12,
) -> None:
    """Teams (and, on Teams, the bot installed in each channel), managers, NQSWs and their
    child-in-need cases, spread over `ports`."""
    senders = [Sender(session, port, now) for port in ports]
    today = now().astimezone(LONDON).date()

    def send(i: int, kind: str, data: dict[str, Any]) -> Any:
        return senders[i % len(senders)].send(kind, data)

    async def install(t: int) -> None:
        url = f"http://127.0.0.1:{ports[t % len(ports)]}/api/messages"
        async with session.post(url, json=installed(org, t, service_url)) as response:
            if response.status not in (200, 202):
                raise RuntimeError(f"installing in team {t}: {response.status}")

    await bounded(org.teams, concurrency, lambda t: send(t, "team.upserted", org.team(t)))
    if org.platform == "teams":
        await bounded(org.teams, concurrency, install)
    await bounded(org.teams, concurrency, lambda t: send(t, "worker.upserted", org.manager(t)))
    await bounded(org.nqsws, concurrency, lambda i: send(i, "worker.upserted", org.nqsw(i, today)))
    await bounded(
        org.nqsws, concurrency, lambda i: send(i, "case.upserted", org.case(i, "child_in_need"))
    )
    allocation = {"role": "lead"}
    await bounded(
        org.nqsws,
        concurrency,
        lambda i: send(
            i,
            "allocation.started",
            {**allocation, "case_ref": f"C-{i:05d}", "worker_ref": f"NQ{i:05d}"},
        ),
    )
    refused = Counter[str]()
    for sender in senders:
        refused.update(sender.refused)
    if refused:
        raise RuntimeError(f"seeding refused: {dict(refused)}")


def step_up(sender: Sender, i: int) -> Any:
    """Case i becomes child protection: its NQSW's breach."""
    return sender.send("case.upserted", Org.case(i, "child_protection"))


# --- the servers, in child processes -----------------------------------------------------


@dataclass(frozen=True)
class Replica:
    index: int
    url: str
    schema: str | None
    platform: Platform
    api_url: str
    """The fake Slack Web API (unused on Teams, where the stored reference says where)."""
    lease_s: float
    now: PinnedClock


def _serve(replica: Replica, conn: Connection) -> None:
    """Child process: the app with its alerts, as `caseload-bot serve` builds it."""
    from bot.alerts import add_alerts
    from bot.app import build_app
    from bot.services import bootstrap
    from bot.settings import Settings

    logging.basicConfig(
        level=logging.WARNING, format=f"replica {replica.index}: %(levelname)s %(message)s"
    )
    # The Agents SDK logs every refused call and each anonymous turn; the product's own
    # lines say what delivery made of them.
    logging.getLogger("microsoft_agents").setLevel(logging.CRITICAL)
    chat: dict[str, Any] = (
        {
            # One token per replica: the fake tells from it who sent what.
            "SLACK_BOT_TOKEN": f"xoxb-bench-{replica.index}",
            "SLACK_SIGNING_SECRET": "caseload-bot alerts benchmark",
            "SLACK_API_URL": replica.api_url,
        }
        if replica.platform == "slack"
        else {"TEAMS_ALLOW_ANONYMOUS": True}
    )
    settings = Settings(
        DATABASE_URL=replica.url,
        CASE_EVENTS_SECRET=SECRET,
        OUTBOX_LEASE_S=replica.lease_s,
        **chat,
    )

    async def main() -> None:
        database = _database(replica.url, replica.schema)
        services = bootstrap(settings, database=database, now=replica.now)

        def build() -> web.Application:
            app = build_app(services)
            add_alerts(app, services)
            return app

        await _run(build, conn)
        await database.dispose()

    asyncio.run(main())


async def start_replicas(replicas: list[Replica]) -> list[Server]:
    """Start them all at once, then wait for each one's port."""
    ctx = mp.get_context("spawn")
    started = []
    for replica in replicas:
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(replica, child), daemon=True)
        process.start()
        started.append((process, parent))
    servers = []
    for process, parent in started:
        if not await asyncio.to_thread(parent.poll, 60):
            for p, _ in started:
                p.terminate()
            raise RuntimeError("a replica did not start within 60 s")
        servers.append(Server(process, parent, int(parent.recv())))
    return servers


async def stop(servers: list[Server]) -> None:
    """Off the loop: a replica stopping finishes its sends to the fake served on it."""
    await asyncio.gather(*(asyncio.to_thread(s.stop) for s in servers if s.process.is_alive()))


def worker_name(server: Server) -> str:
    """The name a replica's claims carry (`bot.alerts.worker_name`)."""
    return f"{socket.gethostname()}:{server.process.pid}"


# --- the fake platforms ------------------------------------------------------------------


@dataclass
class Faults:
    server_error: float = 0.0
    throttle: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def draw(self) -> int | None:
        x = self.rng.random()
        if x < self.server_error:
            return 500
        return 429 if x < self.server_error + self.throttle else None


class FakePlatform:
    """Slack's Web API and Teams' Bot Connector, the calls delivery makes, on one local
    port. Each post that is accepted is recorded by (conversation, case, rule named); a
    refused one (500, 429 with Retry-After: 1) is not received."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.first: dict[Key, float] = {}
        """When each message first arrived (perf_counter)."""
        self.first_of_case: dict[tuple[str, str], float] = {}
        """When the first message naming a case arrived in a conversation."""
        self.copies: Counter[Key] = Counter()
        self.refused: Counter[int] = Counter()
        self.updates = 0
        self.others = 0
        """Posts naming no case (a reminder, an admin's report)."""
        self.by_sender: Counter[str] = Counter()
        self._ids = iter(range(1, 10**9))
        app = web.Application()
        app.router.add_post("/api/{method}", self._slack)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._activity)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._activity)
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()

    async def close(self) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/"

    @property
    def received(self) -> int:
        return sum(self.copies.values())

    def _arrived(self, conversation: str, body: str, sender: str) -> None:
        cases, rules = set(CASE.findall(body)), set(RULE.findall(body))
        if len(cases) != 1 or len(rules) != 1:
            self.others += 1
            return
        case = cases.pop()
        key = (conversation, case, rules.pop())
        self.first.setdefault(key, time.perf_counter())
        self.first_of_case.setdefault((conversation, case), time.perf_counter())
        self.copies[key] += 1
        self.by_sender[sender] += 1

    def _refusal(self, slack: bool) -> web.Response | None:
        status = self.faults.draw()
        if status is None:
            return None
        self.refused[status] += 1
        headers = {"Retry-After": "1"} if status == 429 else {}
        if slack and status == 429:
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers=headers
            )
        if slack:
            return web.Response(status=500, text="Internal Server Error")
        return web.json_response({"error": {"code": str(status)}}, status=status, headers=headers)

    async def _slack(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if method not in SENDS:  # auth.test and the like
            return web.json_response({"ok": True, "user_id": "UBOT", "team_id": SLACK_TEAM})
        refused = self._refusal(slack=True)
        if refused is not None:
            return refused
        args = json.loads(raw) if request.content_type == "application/json" else {}
        if not args:
            args = dict((await request.post()).items())
        channel = str(args["channel"])
        if method == "chat.update":
            self.updates += 1
            return web.json_response({"ok": True, "channel": channel, "ts": args["ts"]})
        token = request.headers.get("Authorization", "").removeprefix("Bearer xoxb-bench-")
        self._arrived(channel, raw, f"replica {token}")
        answered = f"D{channel[1:]}" if channel.startswith("U") else channel
        return web.json_response(
            {"ok": True, "channel": answered, "ts": f"1700000000.{next(self._ids):06d}"}
        )

    async def _create(self, request: web.Request) -> web.Response:
        """A 1:1 chat with the one member named. Never refused: the faults fall on the sends
        and edits, as on Slack, rather than twice on a Teams person's message."""
        body = await request.json()
        return web.json_response({"id": f"a:1on1-{body['members'][0]['id']}"}, status=201)

    async def _activity(self, request: web.Request) -> web.Response:
        raw = await request.text()
        refused = self._refusal(slack=False)
        if refused is not None:
            return refused
        if request.method == "PUT":
            self.updates += 1
        else:
            self._arrived(request.match_info["cid"], raw, "teams")
        return web.json_response({"id": f"act-{next(self._ids)}"})


# --- databases ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def pg_schema(url: str) -> AsyncIterator[str]:
    """A fresh schema for one run, dropped after."""
    schema = f"alerts_{uuid.uuid4().hex[:12]}"
    admin = _database(url, None)
    try:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield schema
        finally:
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def database_at(url: str | None) -> AsyncIterator[tuple[str, str | None]]:
    """(url, schema): a temporary SQLite file by default, or a fresh PostgreSQL schema."""
    if url is not None and url.startswith("postgresql"):
        async with pg_schema(url) as schema:
            yield url, schema
    elif url is not None:
        yield url, None
    else:
        with tempfile.TemporaryDirectory(prefix="caseload-alerts-bench-") as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}", None


async def outbox(url: str, schema: str | None, where: str = "", **params: Any) -> Counter[str]:
    """The outbox's messages by status (`where`: more conditions)."""
    database = _database(url, schema)
    try:
        async with database.engine.connect() as conn:
            rows = await conn.execute(
                text(f"SELECT status, count(*) FROM outbox WHERE true {where} GROUP BY status"),
                params,
            )
            return Counter({status: n for status, n in rows.all()})
    finally:
        await database.dispose()


async def count_breaches(url: str, schema: str | None) -> int:
    database = _database(url, schema)
    try:
        async with database.engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM breaches"))).scalar_one())
    finally:
        await database.dispose()


async def until(done: Callable[[], bool], within: float, every: float = 0.05) -> bool:
    deadline = time.perf_counter() + within
    while not done():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(every)
    return True


# --- (1) latency -------------------------------------------------------------------------


@dataclass
class Latency:
    database: str
    events: int
    latencies: list[float]
    seconds: float


async def latency_run(
    events: int, teams: int, rate: float, database_url: str | None, timeout: float = 60.0
) -> Latency:
    now = PinnedClock.working_morning()
    org = Org("slack", teams, events)
    fake = FakePlatform(Faults())
    await fake.start()
    try:
        async with database_at(database_url) as (url, schema):
            await prepare(url, schema, now)
            replica = Replica(0, url, schema, "slack", f"{fake.url}api/", 60.0, now)
            servers = await start_replicas([replica])
            try:
                async with aiohttp.ClientSession() as session:
                    await seed(session, [servers[0].port], org, now, fake.url)
                    sender = Sender(session, servers[0].port, now)
                    sent: dict[int, float] = {}
                    tasks = []
                    started = time.perf_counter()
                    for i in range(events):
                        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
                        sent[i] = time.perf_counter()
                        tasks.append(asyncio.create_task(step_up(sender, i)))
                    await asyncio.gather(*tasks)
                    keys = {i: (org.channel(org.team_of(i)), f"C-{i:05d}") for i in range(events)}
                    arrived = fake.first_of_case
                    await until(lambda: all(k in arrived for k in keys.values()), timeout)
                    seconds = time.perf_counter() - started
            finally:
                await stop(servers)
    finally:
        await fake.close()
    latencies = [arrived[k] - sent[i] for i, k in keys.items() if k in arrived]
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    return Latency(backend, events, latencies, seconds)


# --- (2) faults --------------------------------------------------------------------------


@dataclass
class FaultRun:
    platform: Platform
    replicas: int
    lease_s: float
    step_ups: int
    expected: int
    breaches: int = 0
    """As opened in the database."""
    arrived: int = 0
    """Distinct (conversation, case) received."""
    channel_expected: int = 0
    channel_arrived: int = 0
    duplicates: int = 0
    """Copies received beyond the first."""
    in_flight_at_kill: int = 0
    """Messages the killed replica had claimed and not finished when it died."""
    kills: int = 0
    outbox: Counter[str] = field(default_factory=Counter)
    """The outbox by status at the end."""
    refused: Counter[int] = field(default_factory=Counter)
    by_sender: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    """From the first step-up sent until the last message first arrived."""

    @property
    def missing(self) -> int:
        return self.expected - self.arrived

    @property
    def pending(self) -> int:
        return self.outbox["pending"]

    @property
    def bounded(self) -> bool:
        return self.duplicates <= self.in_flight_at_kill


async def fault_run(
    platform: Platform,
    step_ups: int,
    teams: int,
    replicas: int = 3,
    lease_s: float = 5.0,
    pg_url: str = PG_URL,
    seed_value: int = 1,
    timeout: float = 300.0,
) -> FaultRun:
    """Replica 0 delivers with the others and is killed mid-delivery; the webhooks go to the
    others, so that no event is lost with it."""
    now = PinnedClock.working_morning()
    org = Org(platform, teams, step_ups)
    fake = FakePlatform(Faults(0.2, 0.1, random.Random(seed_value)))
    rules = step_up_rules()
    expected = {k for i in range(step_ups) for k in org.expected(i, rules)}
    channels = {k for k in expected if k[0].startswith(("C", "19:"))}
    run = FaultRun(platform, replicas, lease_s, step_ups, len(expected))
    await fake.start()
    try:
        async with pg_schema(pg_url) as schema:
            await prepare(pg_url, schema, now)
            api = f"{fake.url}api/"
            servers = await start_replicas(
                [Replica(r, pg_url, schema, platform, api, lease_s, now) for r in range(replicas)]
            )
            victim, others = servers[0], servers[1:]
            try:
                async with aiohttp.ClientSession() as session:
                    ports = [s.port for s in others]
                    await seed(session, ports, org, now, fake.url)
                    senders = [Sender(session, port, now) for port in ports]
                    started = time.perf_counter()
                    sending = asyncio.create_task(
                        bounded(step_ups, 8, lambda i: step_up(senders[i % len(senders)], i))
                    )
                    await until(lambda: len(fake.first) >= KILL_AT * len(expected), timeout)
                    assert victim.process.pid is not None, "started"
                    os.kill(victim.process.pid, signal.SIGKILL)
                    await asyncio.to_thread(victim.process.join, 10)
                    run.kills = 1
                    claimed = await outbox(
                        pg_url,
                        schema,
                        "AND leased_by = :worker",
                        worker=worker_name(victim),
                    )
                    run.in_flight_at_kill = claimed["pending"]
                    await sending
                    # Every message is queued now: done when none is left pending (sent,
                    # or parked, which will never arrive).
                    deadline = time.perf_counter() + timeout
                    while (await outbox(pg_url, schema))["pending"]:
                        if time.perf_counter() > deadline:
                            break
                        await asyncio.sleep(0.5)
                    await asyncio.sleep(1.0)  # a send still under way arrives meanwhile
                    delivered = [fake.first[k] for k in expected if k in fake.first]
                    run.seconds = max(delivered, default=started) - started
                    run.outbox = Counter(await outbox(pg_url, schema))
                    run.breaches = await count_breaches(pg_url, schema)
            finally:
                await stop(others)
    finally:
        await fake.close()
    run.arrived = len(expected & fake.first.keys())
    run.channel_expected = len(channels)
    run.channel_arrived = len(channels & fake.first.keys())
    run.duplicates = sum(n - 1 for k, n in fake.copies.items() if k in expected)
    run.refused = fake.refused
    run.by_sender = fake.by_sender
    return run


# --- the report --------------------------------------------------------------------------


def machine() -> str:
    model = host.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, Python {sys.version.split()[0]}"


def markdown(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def latency_table(r: Latency) -> str:
    head = ("database", "step-ups", "arrived", "p50 ms", "p95 ms", "p99 ms", "max ms")
    row = (
        r.database,
        str(r.events),
        str(len(r.latencies)),
        *(f"{pct(r.latencies, p):,.0f}" for p in (50, 95, 99, 100)),
    )
    return markdown(head, [row])


def fault_table(runs: list[FaultRun]) -> str:
    head = (
        "platform",
        "step-ups / breaches",
        "messages arrived / expected",
        "channel alerts",
        "duplicates",
        "in flight at kill",
        "parked",
        "pending at end",
        "refused (500, 429)",
        "all delivered in s",
    )
    rows = [
        (
            r.platform,
            f"{r.step_ups:,} / {r.breaches:,}",
            f"{r.arrived:,} / {r.expected:,}",
            f"{r.channel_arrived:,} / {r.channel_expected:,}",
            str(r.duplicates),
            f"{r.in_flight_at_kill} ({r.kills} kill)",
            str(r.outbox["failed"]),
            str(r.pending),
            f"{r.refused[500]:,}, {r.refused[429]:,}",
            f"{r.seconds:.1f}",
        )
        for r in runs
    ]
    return markdown(head, rows)


def latency_figures(r: Latency) -> list[Figure]:
    return [
        Figure(
            "latency: step-ups whose alert arrived", len(r.latencies), "step-ups", must=r.events
        ),
        Figure("latency: step-up to channel p50", pct(r.latencies, 50), "ms"),
        Figure("latency: step-up to channel p95", pct(r.latencies, 95), "ms"),
        Figure(
            "latency: step-up to channel p99",
            pct(r.latencies, 99),
            "ms",
            LATENCY_TARGET_MS,
            LATENCY_MUST_MS,
            "lower",
        ),
        Figure("latency: step-up to channel max", pct(r.latencies, 100), "ms"),
    ]


def fault_figures(r: FaultRun) -> list[Figure]:
    """The outbox's guarantees as musts: at least once, at most one extra copy per message
    in flight at the kill, nothing left pending."""
    p = f"faults, {r.platform}"
    return [
        Figure(f"{p}: messages arrived", r.arrived, "messages", must=r.expected),
        Figure(
            f"{p}: channel alerts arrived", r.channel_arrived, "alerts", must=r.channel_expected
        ),
        Figure(
            f"{p}: duplicates", r.duplicates, "copies", must=r.in_flight_at_kill, better="lower"
        ),
        Figure(f"{p}: in flight at kill", r.in_flight_at_kill, "messages"),
        Figure(f"{p}: parked", r.outbox["failed"], "messages"),
        Figure(f"{p}: pending at end", r.pending, "messages", must=0, better="lower"),
        Figure(f"{p}: refused with 500", r.refused[500], "calls"),
        Figure(f"{p}: refused with 429", r.refused[429], "calls"),
        Figure(f"{p}: all delivered in", r.seconds, "s"),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("latency", "faults"), help="one of the two")
    parser.add_argument("--events", type=int, default=200, help="latency: step-ups (200)")
    parser.add_argument("--teams", type=int, default=50, help="latency: teams (50)")
    parser.add_argument("--rate", type=float, default=5.0, help="latency: step-ups/s (5)")
    parser.add_argument(
        "--database-url", help="latency: this database (default: a temporary SQLite file)"
    )
    parser.add_argument(
        "--breaches", type=int, default=1000, help="faults: breaches, two per step-up (1,000)"
    )
    parser.add_argument("--fault-teams", type=int, default=100, help="faults: teams (100)")
    parser.add_argument("--replicas", type=int, default=3, help="faults: replicas (3)")
    parser.add_argument("--lease", type=float, default=5.0, help="faults: OUTBOX_LEASE_S (5)")
    parser.add_argument(
        "--platform", choices=("slack", "teams", "both"), default="both", help="faults (both)"
    )
    parser.add_argument("--pg-url", default=PG_URL, help=f"faults: PostgreSQL ({PG_URL})")
    parser.add_argument("--seed", type=int, default=1, help="faults: the fault draws' seed")
    add_json_option(parser)
    args = parser.parse_args(argv)
    for name in ("events", "teams", "breaches", "fault_teams"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.replicas < 2 or args.rate <= 0 or args.lease <= 0:
        parser.error("--replicas must be at least 2, --rate and --lease positive")
    return args


async def run(
    args: argparse.Namespace, figures: list[Figure], skipped: dict[str, str]
) -> list[str]:
    """The report's sections; the figures and the parts not run (with why) are added to
    `figures` and `skipped`."""
    out = []
    if args.only in (None, "latency"):
        print(f"latency: {args.events} step-ups at {args.rate:g}/s over {args.teams} teams ...")
        r = await latency_run(args.events, args.teams, args.rate, args.database_url)
        out.append(f"Step-up to channel alert ({r.seconds:.0f} s):\n\n{latency_table(r)}")
        figures += latency_figures(r)
    if args.only in (None, "faults"):
        if not pg_reachable(args.pg_url):
            out.append(f"faults: nothing answers at {args.pg_url}; skipped")
            skipped["faults (PostgreSQL)"] = NO_PG
            return out
        platforms: list[Platform] = (
            ["slack", "teams"] if args.platform == "both" else [args.platform]
        )
        runs = []
        for platform in platforms:
            print(
                f"faults on {platform}: {args.breaches:,} breaches, {args.replicas} replicas,"
                f" lease {args.lease:g} s, one SIGKILL ...",
                flush=True,
            )
            runs.append(
                await fault_run(
                    platform,
                    -(-args.breaches // len(step_up_rules())),
                    args.fault_teams,
                    args.replicas,
                    args.lease,
                    args.pg_url,
                    args.seed,
                )
            )
        for each in runs:
            figures += fault_figures(each)
        senders = "; ".join(
            f"{r.platform}: " + ", ".join(f"{n} by {s}" for s, n in sorted(r.by_sender.items()))
            for r in runs
        )
        out.append(
            f"Faults ({args.replicas} replicas on PostgreSQL, OUTBOX_LEASE_S={args.lease:g},"
            " 20% 500 and 10% 429 + Retry-After: 1, replica 0 killed with SIGKILL once"
            f" {KILL_AT:.0%} of the messages arrived):\n\n{fault_table(runs)}\n\n"
            f"Copies received, by sender: {senders}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    figures: list[Figure] = []
    skipped: dict[str, str] = {}
    sections = asyncio.run(run(args, figures, skipped))
    write_json("alerts", args, figures, skipped)
    print()
    print("\n\n".join(sections))
    print(f"\n{machine()}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
