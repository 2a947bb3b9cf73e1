"""Ingest benchmark: the case-management webhook path over real HTTP, on SQLite and PostgreSQL.

The server is the product's own app (`bot.app.build_app`) served by aiohttp on 127.0.0.1 at a
random port in a child process; the client signs every event per Standard Webhooks. Measured:

(a) single-event latency: one signed event at a time, p50/p99 until the 202 (issue 12's
    target: p99 under 20 ms);
(b) a nightly extract: the workers and cases that `--allocations` allocation events need,
    then the allocations, sent with bounded concurrency: events per second;
(c) during (b), a second client asks the decision API every `--interval-ms`: its p50/p99,
    to show interactive requests are not blocked by the bulk load;
(d) with `--batch N`: the same extract again (new workers and cases), N events per request
    to `POST /webhooks/case-events:batch`, with the same concurrency: events per second,
    beside (b)'s one event per request;
(e) the big worker: allocation events for one NQSW on the ASYE already holding
    `--small-holds` allocations, and as many for one holding `--big-holds` (set up through
    the batch route), in alternating rounds: each one's events per second, and the big
    one's over the small one's;
(f) the database alone, before the server starts and again after it stops: single-row
    INSERT+COMMIT in a loop for `--commit-seconds` (SQLite: plain sqlite3 on a file beside the
    bench's, WAL with synchronous=FULL as the issue measured; PostgreSQL: asyncpg, autocommit,
    in the bench's schema). The faster window counts: other work on the machine only slows
    it. (b)'s and (d)'s events/s are also given over that commits/s, so that the figures mean
    something on any machine.

Issue 12's targets: (b) at least 1,000 events/s on each database (must: 500) with 8 requests
in flight, (a) p99 under 20 ms, (e) the big worker within 20% of the small, (c) p99 under
50 ms (must: 150).

PostgreSQL is measured when it answers at `--pg-url`, in a fresh schema dropped afterwards.
Loopback only; every loop is bounded. Usage:

    .venv/bin/python bench/ingest_bench.py                   # the issue's figures
    .venv/bin/python bench/ingest_bench.py --allocations 2000 --single 200   # a quick look
    .venv/bin/python bench/ingest_bench.py --json ingest.json   # and the figures as JSON
    .venv/bin/python bench/ingest_bench.py --batch 100          # and batches of 100 events
    .venv/bin/python bench/ingest_bench.py --big-holds 150 --worker-events 50 --commit-seconds 1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from figures import NO_PG, Figure, add_json_option, write_json
from sqlalchemy import text
from sqlalchemy.engine import make_url
from standardwebhooks import Webhook

from bot.app import build_app
from bot.policy_source import read_policy
from bot.services import bootstrap, utcnow
from bot.settings import Settings
from handlers import admin
from handlers.events import MAX_BATCH_EVENTS
from storage.db import Database, connect

IN_FLIGHT = 8
"""Issue 12's requests in flight for every throughput figure (`--concurrency`)."""
EVENTS_TARGET, EVENTS_MUST = 1_000.0, 500.0
"""Issue 12's events/s with 8 in flight, on SQLite and on PostgreSQL: target and must."""
SINGLE_P99_TARGET_MS = 20.0
"""Issue 12's target for one event's p99, on either database; it sets no must for it."""
DECISION_P99_TARGET_MS, DECISION_P99_MUST_MS = 50.0, 150.0
"""Issue 12's decision API p99 during the bulk load: target and must."""
BIG_WORKER_TARGET = 0.8
"""Issue 12: the big worker's events/s within 20% of the small one's (no must)."""
SECRET = "whsec_" + base64.b64encode(b"caseload-bot ingest benchmark!!!").decode()
ORG = "bench"
PRESET = "stoke-childrens"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
WORK_TYPES = ("child_in_need", "child_and_family_assessment", "child_in_care", "private_law")


# --- the server, in a child process ------------------------------------------------------


def _database(url: str, schema: str | None) -> Database:
    if schema is None:
        return connect(url)
    return connect(url, connect_args={"server_settings": {"search_path": schema}})


def _serve(url: str, schema: str | None, conn: Connection) -> None:
    """Child process: serve the app on 127.0.0.1:<random>, send the port, stop when told."""

    async def main() -> None:
        from aiohttp import web

        database = _database(url, schema)
        settings = Settings(DATABASE_URL=url, CASE_EVENTS_SECRET=SECRET)
        app = build_app(bootstrap(settings, database=database))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        conn.send(port)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # blocks until the parent says stop
        await runner.cleanup()
        await database.dispose()

    asyncio.run(main())


@dataclass
class Server:
    process: mp.process.BaseProcess
    conn: Connection
    port: int

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


def start_server(url: str, schema: str | None) -> Server:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(url, schema, child), daemon=True)
    process.start()
    if not parent.poll(60):
        process.terminate()
        raise RuntimeError("the server did not start within 60 s")
    return Server(process, parent, int(parent.recv()))


# --- events and requests -----------------------------------------------------------------


class Sender:
    """`now`: the time events are stamped and signed with; the server checks the signature's
    timestamp against its own clock, which a bench may pin (alerts_bench)."""

    def __init__(
        self, session: aiohttp.ClientSession, port: int, now: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.session = session
        self.now = now
        self.url = f"http://127.0.0.1:{port}/webhooks/case-events"
        self.batch_url = f"{self.url}:batch"
        self.webhook = Webhook(SECRET)
        self.statuses: dict[int, int] = {}
        self.refused: dict[str, int] = {}
        """Events still not accepted after every attempt, by `type: status message`."""
        self.statuses_by_event: dict[str, int] = {}
        """Each batched event's result, by status (a 200 says little about its events)."""

    async def send(self, type_: str, data: dict[str, Any], attempts: int = 5) -> float:
        """Sign and post one event; retries a 503 (busy) or 409 (out of order) a few times.

        Returns the latency of the last attempt in seconds.
        """
        body = json.dumps(
            {
                "type": type_,
                "occurred_at": self.now().isoformat(),
                "org": ORG,
                "data": data,
            }
        )
        msg_id = f"msg_{uuid.uuid4().hex}"
        elapsed = 0.0
        for attempt in range(attempts):
            now = self.now()
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.webhook.sign(msg_id, now, body),
                "content-type": "application/json",
            }
            started = time.perf_counter()
            async with self.session.post(self.url, data=body, headers=headers) as response:
                answer = await response.read()
                status = response.status
            elapsed = time.perf_counter() - started
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 202:
                break
            if status not in (409, 503) or attempt == attempts - 1:
                key = f"{type_}: {status} {answer[:160].decode(errors='replace')}"
                self.refused[key] = self.refused.get(key, 0) + 1
                break
            await asyncio.sleep(0.05 * (attempt + 1))
        return elapsed

    async def send_batch(self, events: list[tuple[str, dict[str, Any]]], attempts: int = 5) -> None:
        """Sign and post events as one batch; resends only those not applied yet (a 503,
        or `not_yet_known` and `not_attempted` results) a few times."""
        pending = {
            f"ev_{uuid.uuid4().hex}": {
                "type": type_,
                "occurred_at": self.now().isoformat(),
                "data": data,
            }
            for type_, data in events
        }
        for attempt in range(attempts):
            body = json.dumps({"org": ORG, "events": [{"id": k, **v} for k, v in pending.items()]})
            msg_id = f"msg_{uuid.uuid4().hex}"
            now = self.now()
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.webhook.sign(msg_id, now, body),
                "content-type": "application/json",
            }
            async with self.session.post(self.batch_url, data=body, headers=headers) as response:
                answer = await response.read()
                status = response.status
            self.statuses[status] = self.statuses.get(status, 0) + 1
            retry: set[str] = set()
            if status == 200:
                for result in json.loads(answer)["results"]:
                    outcome = f"event {result['status']}"
                    self.statuses_by_event[outcome] = self.statuses_by_event.get(outcome, 0) + 1
                    if result["status"] in ("not_yet_known", "not_attempted"):
                        retry.add(result["id"])
                    elif result["status"] == "refused":
                        key = f"{pending[result['id']]['type']}: refused {result['error']}"
                        self.refused[key] = self.refused.get(key, 0) + 1
            elif status == 503:
                retry = set(pending)
            else:
                key = f"batch: {status} {answer[:160].decode(errors='replace')}"
                self.refused[key] = self.refused.get(key, 0) + len(pending)
            pending = {k: v for k, v in pending.items() if k in retry}
            if not pending:
                return
            if attempt == attempts - 1:
                key = f"batch: {len(pending)} still not applied after {attempts} attempts"
                self.refused[key] = self.refused.get(key, 0) + len(pending)
                return
            await asyncio.sleep(0.05 * (attempt + 1))


def worker_data(i: int, nqsw_every: int) -> dict[str, Any]:
    ref = f"W-{i:05d}"
    data: dict[str, Any] = {
        "ref": ref,
        "name": f"Worker {i}",
        "roles": ["nqsw"] if i % nqsw_every == 0 else ["social_worker"],
        "team_ref": f"T-{i % 50:02d}",
    }
    if i % nqsw_every == 0:
        data["asye"] = {"start": (dt.date.today() - dt.timedelta(days=200)).isoformat()}
    return data


def case_data(i: int) -> dict[str, Any]:
    return {"ref": f"C-{i:06d}", "work_type": WORK_TYPES[i % len(WORK_TYPES)], "children": 1}


def allocation_data(i: int, workers: int, worker_base: int = 0) -> dict[str, Any]:
    """Case `i` to one of the `workers` numbered from `worker_base`."""
    worker = worker_base + i % workers
    return {"case_ref": f"C-{i:06d}", "worker_ref": f"W-{worker:05d}", "role": "lead"}


BATCH_WORKER_BASE = 50_000
BATCH_CASE_BASE = 400_000
"""Phase (d)'s workers and cases are numbered from here: new ones, not (b)'s again."""
SMALL_WORKER, BIG_WORKER = 90_000, 90_001
WORKER_CASE_BASE = 600_000
"""Phase (e)'s two NQSWs, and where its cases are numbered from: refs no other phase uses."""
SETUP_BATCH = 100
"""Events per request when (e) sets up what the workers already hold."""


async def bounded(jobs: int, concurrency: int, job: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Run job(0..jobs-1), at most `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with gate:
            return await job(i)

    return await asyncio.gather(*(one(i) for i in range(jobs)))


# --- the measurements --------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    single: list[float] = field(default_factory=list)
    bulk_events: int = 0
    bulk_allocations: int = 0
    bulk_seconds: float = 0.0
    alloc_seconds: float = 0.0
    decisions: list[float] = field(default_factory=list)
    decision_errors: int = 0
    batch_events: int = 0
    batch_seconds: float = 0.0
    worker_events: int = 0
    small_seconds: float = 0.0
    big_seconds: float = 0.0
    raw: list[tuple[int, float]] = field(default_factory=list)
    """(f)'s windows: (commits, seconds) before the server and after it."""
    statuses: dict[int, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    statuses_by_event: dict[str, int] = field(default_factory=dict)


def rate(count: int, seconds: float) -> float | None:
    return count / seconds if seconds else None


def raw_rate(r: Result) -> float | None:
    """(f)'s commits/s: the faster window's."""
    return max((n / s for n, s in r.raw), default=None)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k] * 1000


async def interactive(
    session: aiohttp.ClientSession,
    port: int,
    token: str,
    interval: float,
    stop: asyncio.Event,
    limit: int,
    result: Result,
) -> None:
    """Ask for a decision every `interval` seconds until `stop` (at most `limit` times)."""
    url = f"http://127.0.0.1:{port}/api/v1/decisions"
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "org": ORG,
        "worker_ref": "W-00000",
        "proposal": {"case_id": "C-PROBE", "work_type": "child_in_need", "children": 1},
    }
    for _ in range(limit):
        if stop.is_set():
            break
        started = time.perf_counter()
        async with session.post(url, json=body, headers=headers) as response:
            await response.read()
            ok = response.status == 200
        elapsed = time.perf_counter() - started
        if ok:
            result.decisions.append(elapsed)
        else:
            result.decision_errors += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, interval - elapsed))


async def prepare(url: str, schema: str | None, now: Callable[[], dt.datetime] = utcnow) -> str:
    """Migrate, create the organisation on the preset and a token; returns the token."""
    database = _database(url, schema)
    services = bootstrap(Settings(DATABASE_URL=url), database=database, now=now)
    try:
        await services.migrate()
        policy, yaml_text = read_policy(PRESET)
        at = services.now()
        await admin.create_organisation(
            services.tx, ORG, "Bench", policy, PRESET, yaml_text, "bench", at
        )
        token, _ = await admin.create_token(services.tx, ORG, "bench", "bench", at)
    finally:
        await database.dispose()
    return token


async def measure(backend: str, url: str, schema: str | None, args: argparse.Namespace) -> Result:
    token = await prepare(url, schema)
    server = start_server(url, schema)
    result = Result(backend)
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            sender = Sender(session, server.port)
            for t in range(50):
                team = {"ref": f"T-{t:02d}", "name": f"Team {t}", "kind": "assessment"}
                await sender.send("team.upserted", team)
            # (a) one event at a time: case upserts and their allocations, after a warm-up.
            for i in range(10):
                await sender.send("worker.upserted", worker_data(i, args.nqsw_every))
            single_base = 900_000
            for i in range(args.single):
                n = single_base + i
                kind, data = (
                    ("case.upserted", case_data(n))
                    if i % 2 == 0
                    else ("allocation.started", allocation_data(n - 1, 10))
                )
                latency = await sender.send(kind, data)
                if i >= 10:
                    result.single.append(latency)

            # (b) the nightly extract, with (c) a decision every interval meanwhile.
            stop = asyncio.Event()
            limit = 10 + int(args.max_seconds / args.interval)
            async with aiohttp.ClientSession(timeout=timeout) as probe_session:
                probe = asyncio.create_task(
                    interactive(
                        probe_session, server.port, token, args.interval, stop, limit, result
                    )
                )
                started = time.perf_counter()
                await bounded(
                    args.workers,
                    args.concurrency,
                    lambda i: sender.send("worker.upserted", worker_data(i, args.nqsw_every)),
                )
                await bounded(
                    args.allocations,
                    args.concurrency,
                    lambda i: sender.send("case.upserted", case_data(i)),
                )
                alloc_started = time.perf_counter()
                await bounded(
                    args.allocations,
                    args.concurrency,
                    lambda i: sender.send("allocation.started", allocation_data(i, args.workers)),
                )
                finished = time.perf_counter()
                stop.set()
                await probe
            result.bulk_events = args.workers + 2 * args.allocations
            result.bulk_allocations = args.allocations
            result.bulk_seconds = finished - started
            result.alloc_seconds = finished - alloc_started
            if args.batch:
                started = time.perf_counter()
                await batched_extract(sender, args)
                result.batch_seconds = time.perf_counter() - started
                result.batch_events = result.bulk_events
            result.small_seconds, result.big_seconds = await worker_sizes(sender, args)
            result.worker_events = args.worker_events
            result.statuses = dict(sender.statuses)
            result.refused = dict(sender.refused)
            result.statuses_by_event = dict(sender.statuses_by_event)
    finally:
        server.stop()
    return result


async def batched_extract(sender: Sender, args: argparse.Namespace) -> None:
    """(d): (b)'s extract for new workers and cases, `--batch` events per request, each kind
    after the one before as in (b) (an allocation needs its case)."""
    w, c = BATCH_WORKER_BASE, BATCH_CASE_BASE
    phases = [
        [("worker.upserted", worker_data(w + i, args.nqsw_every)) for i in range(args.workers)],
        [("case.upserted", case_data(c + i)) for i in range(args.allocations)],
        [
            ("allocation.started", allocation_data(c + i, args.workers, w))
            for i in range(args.allocations)
        ],
    ]
    for events in phases:
        await send_batches(sender, events, args.batch, args.concurrency)


async def send_batches(
    sender: Sender, events: list[tuple[str, dict[str, Any]]], size: int, concurrency: int
) -> None:
    chunks = [events[i : i + size] for i in range(0, len(events), size)]
    await bounded(len(chunks), concurrency, partial(_send_chunk, sender, chunks))


async def _send_chunk(
    sender: Sender, chunks: list[list[tuple[str, dict[str, Any]]]], i: int
) -> None:
    await sender.send_batch(chunks[i])


WORKER_ROUNDS = 3
"""(e) alternates between the two NQSWs this many times: each phase lasts well under a second
once a large caseload costs what a small one does, and a moment of other load on the machine
(a checkpoint, the bench client) then falls on both rather than on one."""


async def worker_sizes(sender: Sender, args: argparse.Namespace) -> tuple[float, float]:
    """(e): the seconds `--worker-events` allocations took, sent singly with `--concurrency`
    in flight, for an NQSW already holding `--small-holds`, and for one holding `--big-holds`
    (in `WORKER_ROUNDS` alternating rounds): what evaluating a worker's breaches costs as the
    caseload grows. Cases and the allocations already held go through the batch route first,
    unmeasured."""
    plans = []
    case = WORKER_CASE_BASE
    for worker, holds in ((SMALL_WORKER, args.small_holds), (BIG_WORKER, args.big_holds)):
        held = range(case, case + holds)
        new = range(held.stop, held.stop + args.worker_events)
        plans.append((worker, held, new))
        case = new.stop
    setup = [
        [("worker.upserted", worker_data(worker, 1)) for worker, _, _ in plans],
        [("case.upserted", case_data(c)) for _, held, new in plans for c in (*held, *new)],
        [("allocation.started", allocation_data(c, 1, w)) for w, held, _ in plans for c in held],
    ]
    for events in setup:  # one request at a time: what each worker holds is exact, not raced
        await send_batches(sender, events, SETUP_BATCH, 1)
    seconds = [0.0, 0.0]
    for round_ in range(WORKER_ROUNDS):
        for i, (worker, _, new) in enumerate(plans):
            part = new[
                round_ * len(new) // WORKER_ROUNDS : (round_ + 1) * len(new) // WORKER_ROUNDS
            ]
            started = time.perf_counter()
            await bounded(len(part), args.concurrency, partial(_allocate, sender, part, worker))
            seconds[i] += time.perf_counter() - started
    return seconds[0], seconds[1]


async def _allocate(sender: Sender, cases: range, worker: int, i: int) -> None:
    await sender.send("allocation.started", allocation_data(cases[i], 1, worker))


def sqlite_commits(path: Path, seconds: float) -> tuple[int, float]:
    """(f) on SQLite: single-row INSERT+COMMIT with plain sqlite3 for `seconds` on a file of
    its own in WAL with synchronous=FULL, as issue 12 measured; (commits, seconds taken)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS commit_probe (n INTEGER)")
        conn.commit()
        commits = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute("INSERT INTO commit_probe VALUES (?)", (commits,))
            conn.commit()
            commits += 1
        return commits, time.perf_counter() - started
    finally:
        conn.close()


async def pg_commits(url: str, schema: str, seconds: float) -> tuple[int, float]:
    """(f) on PostgreSQL: asyncpg on one connection, no SQLAlchemy, one single-row INSERT
    per transaction (autocommit) in `schema` for `seconds`; (commits, seconds taken)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS commit_probe (n integer)")
        commits = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await conn.execute("INSERT INTO commit_probe VALUES ($1)", commits)
            commits += 1
        return commits, time.perf_counter() - started
    finally:
        await conn.close()


def pg_reachable(url: str) -> bool:
    parsed = make_url(url)
    try:
        socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5432), 1).close()
    except OSError:
        return False
    return True


async def on_postgresql[R](
    url: str, skip: bool, skipped: dict[str, str], where: str, measure: Callable[[], Awaitable[R]]
) -> list[R]:
    """`measure()`'s result when PostgreSQL answers at `url` and is not skipped; otherwise
    none, and why in `skipped`."""
    if skip:
        return []
    if not pg_reachable(url):
        print(f"postgresql: nothing answers at {make_url(url).host}; skipped", flush=True)
        skipped["postgresql"] = NO_PG
        return []
    print(f"postgresql: {where} ...", flush=True)
    return [await measure()]


async def with_pg_schema(url: str, args: argparse.Namespace) -> Result:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = connect(url)
    try:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            before = await pg_commits(url, schema, args.commit_seconds)
            result = await measure("postgresql", url, schema, args)
            result.raw = [before, await pg_commits(url, schema, args.commit_seconds)]
            return result
        finally:
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


def table(results: list[Result], args: argparse.Namespace) -> str:
    head = (
        "backend",
        "single p50 ms",
        "single p99 ms",
        "bulk events",
        "bulk s",
        "events/s",
        "allocations/s",
        "decision p50 ms",
        "decision p99 ms",
        "decisions",
        "non-2xx",
    )
    rows = [head]
    for r in results:
        refused_requests = sum(n for status, n in r.statuses.items() if not 200 <= status < 300)
        rows.append(
            (
                r.backend,
                f"{pct(r.single, 50):.1f}",
                f"{pct(r.single, 99):.1f}",
                f"{r.bulk_events:,}",
                f"{r.bulk_seconds:.1f}",
                f"{r.bulk_events / r.bulk_seconds:,.0f}" if r.bulk_seconds else "-",
                f"{r.bulk_allocations / r.alloc_seconds:,.0f}" if r.alloc_seconds else "-",
                f"{pct(r.decisions, 50):.1f}",
                f"{pct(r.decisions, 99):.1f}",
                f"{len(r.decisions)} ok, {r.decision_errors} failed",
                str(refused_requests),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    for r in results:
        if r.batch_seconds:
            lines.append(
                f"{r.backend} (d) batches of {args.batch}: {r.batch_events / r.batch_seconds:,.0f}"
                f" events/s, against (b)'s {r.bulk_events / r.bulk_seconds:,.0f} events/s one"
                " event per request"
            )
    for r in results:
        commits = raw_rate(r)
        windows = " and ".join(f"{n / s:,.0f}" for n, s in r.raw)
        lines.append(
            f"{r.backend} (f) raw single-row commits: {commits or 0:,.0f} commits/s (of {windows});"
            f" events/s ÷ commits/s: (b) {ratio(rate(r.bulk_events, r.bulk_seconds), commits) or 0:.2f}"
            + (
                f", (d) {ratio(rate(r.batch_events, r.batch_seconds), commits) or 0:.2f}"
                if r.batch_seconds
                else ""
            )
        )
        small = rate(r.worker_events, r.small_seconds)
        big = rate(r.worker_events, r.big_seconds)
        lines.append(
            f"{r.backend} (e) allocations to an NQSW holding {args.small_holds:,}:"
            f" {small or 0:,.0f} events/s; holding {args.big_holds:,}: {big or 0:,.0f} events/s;"
            f" big ÷ small {ratio(big, small) or 0:.2f} (target {BIG_WORKER_TARGET:g} or more)"
        )
    for r in results:
        statuses = ", ".join(f"{n} x {status}" for status, n in sorted(r.statuses.items()))
        lines.append(f"{r.backend} webhook answers: {statuses}")
        if r.statuses_by_event:
            events = ", ".join(f"{n} x {s}" for s, n in sorted(r.statuses_by_event.items()))
            lines.append(f"{r.backend} batched events: {events}")
        for refusal, n in sorted(r.refused.items()):
            lines.append(f"  {n} x refused after retries: {refusal}")
    return "\n".join(lines)


def figures(results: list[Result], args: argparse.Namespace) -> list[Figure]:
    out = []
    for r in results:
        b = r.backend
        bulk = rate(r.bulk_events, r.bulk_seconds)
        batch = rate(r.batch_events, r.batch_seconds)
        commits = raw_rate(r)
        small = rate(r.worker_events, r.small_seconds)
        big = rate(r.worker_events, r.big_seconds)
        out += [
            Figure(f"{b}: single event p50", pct(r.single, 50), "ms", better="lower"),
            Figure(
                f"{b}: single event p99",
                pct(r.single, 99),
                "ms",
                SINGLE_P99_TARGET_MS,
                None,
                "lower",
            ),
            Figure(f"{b}: bulk events", bulk, "events/s", EVENTS_TARGET, EVENTS_MUST),
            Figure(
                f"{b}: bulk allocations", rate(r.bulk_allocations, r.alloc_seconds), "allocations/s"
            ),
            *(
                [
                    Figure(
                        f"{b}: bulk events in batches",
                        batch,
                        "events/s",
                        EVENTS_TARGET,
                        EVENTS_MUST,
                    )
                ]
                if batch
                else []
            ),
            Figure(f"{b}: raw single-row commits", commits, "commits/s"),
            Figure(f"{b}: bulk events/s ÷ raw commits/s", ratio(bulk, commits), "ratio"),
            *(
                [Figure(f"{b}: batched events/s ÷ raw commits/s", ratio(batch, commits), "ratio")]
                if batch
                else []
            ),
            Figure(f"{b}: NQSW holding {args.small_holds:,}, allocations", small, "events/s"),
            Figure(f"{b}: NQSW holding {args.big_holds:,}, allocations", big, "events/s"),
            Figure(
                f"{b}: big worker's events/s ÷ small worker's",
                ratio(big, small),
                "ratio",
                BIG_WORKER_TARGET,
            ),
            Figure(f"{b}: decision during bulk, p50", pct(r.decisions, 50), "ms", better="lower"),
            Figure(
                f"{b}: decision during bulk, p99",
                pct(r.decisions, 99),
                "ms",
                DECISION_P99_TARGET_MS,
                DECISION_P99_MUST_MS,
                "lower",
            ),
            Figure(f"{b}: decisions failed", r.decision_errors, "requests"),
            Figure(f"{b}: events refused after retries", sum(r.refused.values()), "events"),
        ]
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--allocations", type=int, default=50_000, help="allocation events (50,000)"
    )
    parser.add_argument("--workers", type=int, default=2_500, help="workers they go to (2,500)")
    parser.add_argument("--nqsw-every", type=int, default=10, help="every Nth worker is an NQSW")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=IN_FLIGHT,
        help=f"requests in flight in (b), (d) and (e) ({IN_FLIGHT}, issue 12's)",
    )
    parser.add_argument("--single", type=int, default=500, help="single-event samples (500)")
    parser.add_argument(
        "--interval-ms", type=float, default=50.0, help="decision API every N ms (50)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=3600, help="bound on the decision client's loop"
    )
    parser.add_argument(
        "--pg-url", default=PG_URL, help=f"PostgreSQL to use if it answers ({PG_URL})"
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="then the extract again, N events per request to the batch route (0: not)",
    )
    parser.add_argument(
        "--small-holds", type=int, default=15, help="(e) the small NQSW's allocations (15)"
    )
    parser.add_argument(
        "--big-holds", type=int, default=1_500, help="(e) the big NQSW's allocations (1,500)"
    )
    parser.add_argument(
        "--worker-events",
        type=int,
        default=300,
        help="(e) allocation events measured for each of the two (300)",
    )
    parser.add_argument(
        "--commit-seconds",
        type=float,
        default=3.0,
        help="(f) seconds of raw single-row commits on each database (3)",
    )
    add_json_option(parser)
    args = parser.parse_args(argv)
    args.interval = args.interval_ms / 1000
    names = ("allocations", "workers", "nqsw_every", "concurrency", "single", "worker_events")
    for name in (*names, "small_holds", "big_holds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.commit_seconds <= 0:
        parser.error("--commit-seconds must be more than 0")
    if not 0 <= args.batch <= MAX_BATCH_EVENTS:
        parser.error(f"--batch is from 0 to {MAX_BATCH_EVENTS} (the route's limit)")
    return args


async def run(args: argparse.Namespace, skipped: dict[str, str]) -> list[Result]:
    """Each backend's result; a part not run is added to `skipped`, with why."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="caseload-bench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        print(
            f"sqlite: {args.workers:,} workers, {args.allocations:,} cases and allocations ...",
            flush=True,
        )
        probe = Path(tmp) / "commits.sqlite3"
        before = sqlite_commits(probe, args.commit_seconds)
        result = await measure("sqlite", url, None, args)
        result.raw = [before, sqlite_commits(probe, args.commit_seconds)]
        results.append(result)
    results += await on_postgresql(
        args.pg_url,
        args.sqlite_only,
        skipped,
        "the same, in a fresh schema",
        partial(with_pg_schema, args.pg_url, args),
    )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    skipped: dict[str, str] = {}
    results = asyncio.run(run(args, skipped))
    write_json("ingest", args, figures(results, args), skipped)
    print()
    print(table(results, args))
    print(
        f"\n(a) {args.single} signed events one at a time after 10 warm-up; target p99 under"
        f" {SINGLE_P99_TARGET_MS:g} ms."
        f"\n(b) {args.workers:,} worker.upserted + {args.allocations:,} case.upserted + "
        f"{args.allocations:,} allocation.started, {args.concurrency} in flight; "
        "allocations/s counts the allocation phase alone."
        f"\n(c) POST /api/v1/decisions every {args.interval_ms:g} ms during (b)."
        + (
            f"\n(d) the same numbers of new workers, cases and allocations, {args.batch} events"
            f" per batch request, {args.concurrency} requests in flight."
            if args.batch
            else ""
        )
        + f"\n(e) {args.worker_events} allocation.started to one NQSW on the ASYE holding"
        f" {args.small_holds:,} and to one holding {args.big_holds:,}, in {WORKER_ROUNDS}"
        f" alternating rounds, {args.concurrency} in flight."
        f"\n(f) {args.commit_seconds:g} s of single-row INSERT+COMMIT, one connection, before"
        " the server and after it, the faster counting: SQLite WAL synchronous=FULL, PostgreSQL"
        " autocommit." + f"\nCPU: {os.cpu_count()} logical; Python {sys.version.split()[0]}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
