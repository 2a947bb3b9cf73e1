"""Decision latency under ingest: where a `POST /api/v1/decisions` spends its milliseconds
while webhooks are being ingested, on SQLite and PostgreSQL in the same run (issue 7).

The load is `ingest_bench.py`'s phase (b): workers, cases, then allocations, signed and sent
with `--concurrency` in flight. A probe asks for a decision every `--interval-ms`, first
alone (idle), then during the load. The probe runs in a process of its own, so that the
loader's event loop cannot delay it (in `ingest_bench.py` it shares the loader's loop:
`--probe-in-loader` does that here too, to compare).

The server is the product's app in a child process, as in `ingest_bench.py`, instrumented
from outside the product code (nothing in bot/, handlers/ or storage/ changes):

- every request's handler is driven through a wrapper that times each step its coroutine
  runs (thread CPU time, and the wall time the OS or the GIL took from the step) and each
  suspension between steps;
- each suspension is labelled by what the request was waiting for: the process's SQLite
  write queue (`Database.write_queue`, replaced by a timed lock), a pool checkout
  (`pool._do_get`), a statement (`before/after_cursor_execute`), a commit or a rollback;
- and split at the moment the awaited thing was ready: an aiosqlite job's end on its
  thread (aiosqlite's `Connection._execute` wraps the job), the lock's release, or for
  a socket (asyncpg) the start of the loop iteration that noticed it (the selector's
  `select` is timed). From ready to resumed is time waiting for the event loop.

PostgreSQL's per-organisation chain lock: every transaction that took `audit_heads ... FOR
UPDATE` reports when it got it and when it sent COMMIT; a decision's own FOR UPDATE waited
until the last such release inside it. `pg_stat_activity` and `pg_locks` are sampled
meanwhile. The client's and the server's clocks are the same (`time.perf_counter` is
CLOCK_MONOTONIC on Linux), so a client's total also splits into before the handler (the
request in, the server's loop noticing it) and after it (the answer back).

Columns: at p50 is the mean of the decisions whose total lies within the p45..p55 band;
at p99 the mean of those at or above p98. What-ifs (the script's, never the product's):
`--interactive-first` gives SQLite's write queue a lane for decisions ahead of webhooks;
`--api-process` serves the decisions from a second server process. `--plain` runs without
the instruments, to see what they cost. Findings: bench/README.md. Loopback only; every loop
is bounded. Usage:

    .venv/bin/python bench/decision_latency.py                     # issue 7's figures
    .venv/bin/python bench/decision_latency.py --allocations 300 --sqlite-only   # a quick look
    .venv/bin/python bench/decision_latency.py --interactive-first --sqlite-only  # a what-if
    .venv/bin/python bench/decision_latency.py --json decisions.json   # and the figures as JSON
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import dataclasses
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiohttp
import aiosqlite.core
from figures import Figure, add_json_option, write_json
from ingest_bench import (
    ORG,
    PG_URL,
    SECRET,
    Sender,
    allocation_data,
    bounded,
    case_data,
    on_postgresql,
    prepare,
    worker_data,
)
from sqlalchemy import event, text

from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings
from storage.db import Database, connect

T = TypeVar("T")
now = time.perf_counter

LOAD_P99_TARGET_MS = 50.0
"""Issue 7: a chat `/allocate` (the decision API stands in for it) under 50 ms p99 while
webhooks are ingested."""

PARTS = ("cpu", "preempted", "loop", "pool", "lock", "db", "handoff", "body", "other")
"""What a traced request's handler time is made of (see `Instruments.resumed`)."""


# --- the instruments, in the server process ------------------------------------------------


@dataclass(slots=True)
class Job:
    """One aiosqlite call on its connection's thread."""

    start: float = 0.0
    end: float = 0.0
    cpu: float = 0.0


@dataclass(slots=True)
class Trace:
    """One request, from the first step of its handler to its answer."""

    path: str
    request_id: str
    t_in: float
    t_out: float = 0.0
    phase: str = "python"
    statement: str = ""
    job: Job | None = None
    """The aiosqlite call the running step just queued."""
    child_end: float = 0.0
    """When a task the request started (`asyncio.shield` does, in a session's close) ended."""
    parts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    steps: int = 0
    db_cpu: float = 0.0
    queue_ahead: int = -1
    hold_since: float = 0.0
    held: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    chain_since: float = 0.0
    calls: int = 0
    """aiosqlite calls, each a round trip to the connection's thread."""
    put_seconds: float = 0.0
    """Of the steps' time, handing those calls to the thread (`SimpleQueue.put_nowait`)."""


@dataclass(slots=True)
class Suspension:
    """One coroutine's suspension: since when, waiting for what, and when that was ready."""

    at: float = 0.0
    phase: str = "python"
    statement: str = ""
    job: Job | None = None
    ready_iteration: int = -1


@dataclass(slots=True)
class Hold:
    """A write-lock (SQLite) or chain-lock (PostgreSQL) hold: how long and what it did."""

    path: str
    start: float
    seconds: float
    parts: dict[str, float]


class Instruments:
    def __init__(self) -> None:
        self.traces: dict[asyncio.Task[Any], Trace] = {}
        self.finished: list[Trace] = []
        self.holds: list[Hold] = []
        self.select_returns = array.array("d")
        self.idle = 0.0
        self.last_release = 0.0
        self.chain_releases: list[tuple[float, float]] = []
        self.marks: dict[str, tuple[float, float, float]] = {}

    def current(self) -> Trace | None:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            return None
        return None if task is None else self.traces.get(task)

    def mark(self, name: str) -> None:
        """Wall time, loop idle time and process CPU time at a named moment."""
        self.marks[name] = (now(), self.idle, time.process_time())

    # the request's steps and suspensions

    def ran(self, trace: Trace, started: float, cpu_started: float) -> None:
        wall = now() - started
        cpu = min(wall, time.thread_time() - cpu_started)
        self.add(trace, "cpu", cpu)
        self.add(trace, "preempted", wall - cpu)
        trace.steps += 1

    def suspended(self, trace: Trace, awaited: Any, gap: Suspension) -> None:
        gap.at, gap.phase, gap.statement = now(), trace.phase, trace.statement
        gap.job, trace.job = trace.job, None
        gap.ready_iteration = -1
        if isinstance(awaited, asyncio.Future):
            awaited.add_done_callback(lambda _: self._noticed(gap))

    def _noticed(self, gap: Suspension) -> None:
        # Runs in the iteration after the one that resolved the future (callbacks are
        # scheduled with call_soon), just before the task's own wake-up.
        gap.ready_iteration = len(self.select_returns)

    def resumed(self, trace: Trace, at: float, gap: Suspension) -> None:
        """Split the suspension that ends now into waiting for X, then for the loop."""
        start, phase, job = gap.at, gap.phase, gap.job
        if not start:
            return
        gap.at, gap.job = 0.0, None
        if trace.child_end > start:
            # It waited for a task of its own, whose steps and waits that task counted.
            self.add(trace, "loop", at - min(at, trace.child_end))
            return
        if phase == "spawn":  # a task of the request's own, created at `start`
            self.add(trace, "loop", at - start)
            return
        if job is not None and job.end:
            ready = min(at, job.end)
            handoff = max(0.0, min(job.start, ready) - start)
            worked = max(0.0, ready - max(job.start, start))
            locking = gap.statement.startswith("BEGIN IMMEDIATE")
            self.add(trace, "pool" if phase == "pool" else "handoff", handoff)
            self.add(trace, "pool" if phase == "pool" else "lock" if locking else "db", worked)
            trace.db_cpu += job.cpu
            self.add(trace, "loop", at - ready)
            return
        if phase == "write_queue":
            ready = min(at, max(start, self.last_release))
        elif gap.ready_iteration >= 2:
            ready = min(at, max(start, self.select_returns[gap.ready_iteration - 2]))
        else:
            ready = at
        waited = ready - start
        if phase == "write_queue":
            self.add(trace, "lock", waited)
        elif phase == "pool":
            self.add(trace, "pool", waited)
        elif phase in ("sql", "commit", "rollback"):
            locked = 0.0
            if _takes_chain(gap.statement):
                released = [r for _, r in self.chain_releases[-64:] if start < r <= ready]
                locked = max(released, default=start) - start
            self.add(trace, "lock", locked)
            self.add(trace, "db", waited - locked)
        else:
            self.add(trace, "body" if phase == "body" else "other", waited)
        self.add(trace, "loop", at - ready)

    def add(self, trace: Trace, part: str, seconds: float) -> None:
        trace.parts[part] += seconds
        if trace.hold_since:
            trace.held[part] += seconds

    # the write lock and the chain lock

    def hold_started(self, trace: Trace) -> None:
        trace.hold_since = now()
        trace.held = dict.fromkeys(PARTS, 0.0)

    def hold_ended(self, trace: Trace) -> None:
        if trace.hold_since:
            ended = now()
            self.holds.append(
                Hold(trace.path, trace.hold_since, ended - trace.hold_since, trace.held)
            )
            trace.hold_since = 0.0

    def finish(self, trace: Trace) -> None:
        trace.t_out = now()
        self.finished.append(trace)


def _takes_chain(statement: str) -> bool:
    return "audit_heads" in statement and "FOR UPDATE" in statement


class Timed[T]:
    """Awaits `coro`, timing each step it runs and labelling each suspension."""

    def __init__(
        self,
        coro: Coroutine[Any, Any, T],
        trace: Trace,
        inst: Instruments,
        spawned: float = 0.0,
    ) -> None:
        """`spawned`: when the task that runs `coro` was created, for a task of the request's
        own (then it waited for the loop since)."""
        self.coro, self.trace, self.inst = coro, trace, inst
        self.gap = Suspension(at=spawned, phase="spawn")
        self.child = bool(spawned)

    def __await__(self) -> Generator[Any, Any, T]:
        coro, trace, inst, gap = self.coro, self.trace, self.inst, self.gap
        value: Any = None
        error: BaseException | None = None
        while True:
            started, cpu_started = now(), time.thread_time()
            inst.resumed(trace, started, gap)
            try:
                awaited = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as done:
                inst.ran(trace, started, cpu_started)
                if self.child:
                    trace.child_end = now()
                result: T = done.value
                return result
            except BaseException:
                inst.ran(trace, started, cpu_started)
                if self.child:
                    trace.child_end = now()
                raise
            inst.ran(trace, started, cpu_started)
            inst.suspended(trace, awaited, gap)
            try:
                value, error = (yield awaited), None
            except BaseException as exc:
                value, error = None, exc


class TimedLock(asyncio.Lock):
    """`Database.write_queue`, timed: who waited, behind how many, who held it how long.
    First come, first served, whatever the product's queue would put first (`urgent`)."""

    def __init__(self, inst: Instruments) -> None:
        super().__init__()
        self.inst = inst

    @contextlib.asynccontextmanager
    async def turn(self, urgent: bool = False) -> AsyncIterator[None]:
        async with self:
            yield

    async def acquire(self) -> Literal[True]:
        trace = self.inst.current()
        if trace is None:
            return await super().acquire()
        waiters = getattr(self, "_waiters", None)
        trace.queue_ahead = len(waiters or ()) + int(self.locked())
        previous, trace.phase = trace.phase, "write_queue"
        try:
            await super().acquire()
        finally:
            trace.phase = previous
        self.inst.hold_started(trace)
        return True

    def release(self) -> None:
        self.inst.last_release = now()
        trace = self.inst.current()
        if trace is not None:
            self.inst.hold_ended(trace)
        super().release()


class InteractiveFirstLock(TimedLock):
    """A what-if, not the product's: the write queue with two lanes, decisions (interactive)
    served before every queued webhook (bulk), each lane first come first served. The lock
    passes straight to the next waiter, so no newcomer can barge in between."""

    def __init__(self, inst: Instruments) -> None:
        super().__init__(inst)
        self.held = False
        self.lanes: tuple[deque[asyncio.Future[bool]], ...] = (deque(), deque())

    def locked(self) -> bool:
        return self.held

    async def acquire(self) -> Literal[True]:
        trace = self.inst.current()
        if not self.held:
            self.held = True
            if trace is not None:
                trace.queue_ahead = 0
        else:
            interactive = trace is not None and trace.path == "/api/v1/decisions"
            lane = self.lanes[0 if interactive else 1]
            if trace is not None:
                trace.queue_ahead = 1 + len(self.lanes[0]) + (0 if interactive else len(lane))
            waiter = asyncio.get_running_loop().create_future()
            lane.append(waiter)
            previous = "python"
            if trace is not None:
                previous, trace.phase = trace.phase, "write_queue"
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self.release()  # it was ours already: pass it on
                else:
                    lane.remove(waiter)
                raise
            finally:
                if trace is not None:
                    trace.phase = previous
        if trace is not None:
            self.inst.hold_started(trace)
        return True

    def release(self) -> None:
        self.inst.last_release = now()
        trace = self.inst.current()
        if trace is not None:
            self.inst.hold_ended(trace)
        for lane in self.lanes:
            while lane:
                waiter = lane.popleft()
                if not waiter.done():
                    waiter.set_result(True)
                    return
        self.held = False


def instrument(database: Database, inst: Instruments, interactive_first: bool) -> Database:
    """Attach the instruments to an engine and aiosqlite; returns the database to serve."""
    sync_engine = database.engine.sync_engine

    def phase(name: str, work: Callable[[], T]) -> T:
        trace = inst.current()
        if trace is None:
            return work()
        previous, trace.phase = trace.phase, name
        try:
            return work()
        finally:
            trace.phase = previous

    pool: Any = sync_engine.pool
    do_get = pool._do_get
    pool._do_get = lambda: phase("pool", do_get)

    dialect: Any = sync_engine.dialect
    do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

    def commit(dbapi_connection: Any) -> None:
        trace = inst.current()
        if trace is not None and trace.chain_since:
            inst.chain_releases.append((trace.chain_since, now()))
            trace.chain_since = 0.0
            if database.write_queue is None:
                inst.hold_ended(trace)
        phase("commit", lambda: do_commit(dbapi_connection))

    def rollback(dbapi_connection: Any) -> None:
        trace = inst.current()
        if trace is not None and trace.chain_since:
            inst.chain_releases.append((trace.chain_since, now()))
            trace.chain_since = 0.0
            if database.write_queue is None:
                inst.hold_ended(trace)
        phase("rollback", lambda: do_rollback(dbapi_connection))

    dialect.do_commit, dialect.do_rollback = commit, rollback

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(*args: Any) -> None:
        trace = inst.current()
        if trace is not None:
            trace.phase, trace.statement = "sql", str(args[2])

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(*args: Any) -> None:
        trace = inst.current()
        if trace is not None:
            trace.phase = "python"
            if _takes_chain(str(args[2])) and not trace.chain_since:
                trace.chain_since = now()
                if database.write_queue is None:
                    inst.hold_started(trace)

    connection_class: Any = aiosqlite.core.Connection
    execute = connection_class._execute

    async def _execute(self: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        trace = inst.current()
        if trace is None:
            return await execute(self, fn, *args, **kwargs)
        job = Job()
        trace.job = job

        def timed(*a: Any, **k: Any) -> Any:
            job.start, cpu = now(), time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                job.cpu, job.end = time.thread_time() - cpu, now()

        # aiosqlite's own `_execute`, with the hand-over to the thread timed.
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        future = asyncio.get_running_loop().create_future()
        put = now()
        self._tx.put_nowait((future, partial(timed, *args, **kwargs)))
        trace.put_seconds += now() - put
        trace.calls += 1
        return await future

    connection_class._execute = _execute
    if database.write_queue is None:
        return database
    lock = InteractiveFirstLock(inst) if interactive_first else TimedLock(inst)
    return dataclasses.replace(database, write_queue=lock)


def time_the_loop(loop: asyncio.AbstractEventLoop, inst: Instruments) -> None:
    """Note when each `select` returns (a loop iteration starts) and how long it slept."""
    selector: Any = getattr(loop, "_selector")  # noqa: B009 (asyncio's own, not public)
    select = selector.select

    def timed_select(timeout: float | None = None) -> Any:
        entered = now()
        ready = select(timeout)
        returned = now()
        inst.idle += returned - entered
        inst.select_returns.append(returned)
        return ready

    selector.select = timed_select


def follow_tasks(loop: asyncio.AbstractEventLoop, inst: Instruments) -> None:
    """A task a traced request creates (the session's close runs in one, under
    `asyncio.shield`) is traced as part of that request."""

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        trace = inst.current()
        if trace is None:
            return asyncio.Task(coro, loop=loop, **kwargs)
        task = asyncio.Task(_coroutine(Timed(coro, trace, inst, now())), loop=loop, **kwargs)
        inst.traces[task] = trace
        task.add_done_callback(lambda done: inst.traces.pop(done, None))
        return task

    loop.set_task_factory(factory)


def _serve(
    url: str, schema: str | None, traced: bool, interactive_first: bool, conn: Connection
) -> None:
    """Child process: the server on 127.0.0.1:<random>, instrumented when `traced`;
    answers `mark` and `stop` (then sends what it measured)."""

    async def main() -> None:
        from aiohttp import web

        loop = asyncio.get_running_loop()
        inst = Instruments()
        connect_args = {} if schema is None else {"server_settings": {"search_path": schema}}
        database = connect(url, connect_args=connect_args)
        served = database
        if traced:
            time_the_loop(loop, inst)
            follow_tasks(loop, inst)
            served = instrument(database, inst, interactive_first)
        settings = Settings(DATABASE_URL=url, CASE_EVENTS_SECRET=SECRET)
        app = build_app(bootstrap(settings, database=served))

        @web.middleware
        async def tracing(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            trace = Trace(request.path, request.headers.get("X-Request-Id", ""), now())
            task = asyncio.current_task()
            assert task is not None
            inst.traces[task] = trace
            try:
                # The body first, so that waiting for it is told apart (aiohttp keeps it:
                # the handler's own read returns it at once, or raises what it raised).
                trace.phase = "body"
                with contextlib.suppress(Exception):
                    await Timed(_coroutine(request.read()), trace, inst)
                trace.phase = "python"
                return await Timed(_coroutine(handler(request)), trace, inst)
            finally:
                del inst.traces[task]
                inst.finish(trace)

        if traced:
            app.middlewares.insert(0, tracing)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(runner.addresses[0][1])
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message == "stop":
                break
            inst.mark(str(message))
            conn.send("marked")
        await runner.cleanup()
        await database.dispose()
        conn.send(
            {
                "traces": [_trace_summary(t) for t in inst.finished],
                "holds": [dataclasses.astuple(h) for h in inst.holds],
                "marks": inst.marks,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )

    asyncio.run(main())


async def _coroutine[T](awaitable: Awaitable[T]) -> T:
    return await awaitable


def _trace_summary(t: Trace) -> dict[str, Any]:
    return {
        "path": t.path,
        "request_id": t.request_id,
        "t_in": t.t_in,
        "t_out": t.t_out,
        "parts": t.parts,
        "steps": t.steps,
        "db_cpu": t.db_cpu,
        "queue_ahead": t.queue_ahead,
        "calls": t.calls,
        "put_seconds": t.put_seconds,
    }


@dataclass
class Server:
    process: mp.process.BaseProcess
    conn: Connection
    port: int

    def mark(self, name: str) -> None:
        self.conn.send(name)
        if not self.conn.poll(30) or self.conn.recv() != "marked":
            raise RuntimeError("the server did not answer a mark within 30 s")

    def stop(self) -> dict[str, Any]:
        self.conn.send("stop")
        measured: dict[str, Any] = self.conn.recv() if self.conn.poll(60) else {}
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        return measured


def start_server(url: str, schema: str | None, args: argparse.Namespace) -> Server:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    options = (url, schema, not args.plain, args.interactive_first, child)
    process = ctx.Process(target=_serve, args=options, daemon=True)
    process.start()
    if not parent.poll(60):
        process.terminate()
        raise RuntimeError("the server did not start within 60 s")
    return Server(process, parent, int(parent.recv()))


# --- the probe: decisions, with the clock the server uses ----------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    request_id: str
    sent: float
    received: float
    status: int


async def ask_decisions(
    port: int,
    token: str,
    label: str,
    interval: float,
    limit: int,
    stopped: Callable[[], bool],
) -> list[Sample]:
    """A decision every `interval` seconds until `stopped()` or `limit` decisions."""
    url = f"http://127.0.0.1:{port}/api/v1/decisions"
    body = {
        "org": ORG,
        "worker_ref": "W-00000",
        "proposal": {"case_id": "C-PROBE", "work_type": "child_in_need", "children": 1},
    }
    samples: list[Sample] = []
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for i in range(limit):
            if stopped():
                break
            request_id = f"probe-{label}-{i}"
            headers = {"Authorization": f"Bearer {token}", "X-Request-Id": request_id}
            sent = now()
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                status = response.status
            received = now()
            samples.append(Sample(request_id, sent, received, status))
            await asyncio.sleep(max(0.0, interval - (received - sent)))
    return samples


def _probe(port: int, token: str, conn: Connection) -> None:
    """Child process: runs `("run", label, interval, limit)` until `"stop"`, sends samples."""
    while True:
        command = conn.recv()
        if command == "exit":
            return
        _, label, interval, limit = command
        samples = asyncio.run(
            ask_decisions(port, token, label, interval, limit, lambda: conn.poll())
        )
        if conn.poll():
            conn.recv()  # the "stop" that ended the run
        conn.send([dataclasses.astuple(s) for s in samples])


class Probe:
    """Decisions from a process of its own, or (`in_loader`) from the loader's loop."""

    def __init__(self, port: int, token: str, in_loader: bool) -> None:
        self.port, self.token, self.in_loader = port, token, in_loader
        self.process: mp.process.BaseProcess | None = None
        self.task: asyncio.Task[list[Sample]] | None = None
        self.stop_event = asyncio.Event()
        if not in_loader:
            ctx = mp.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.process = ctx.Process(target=_probe, args=(port, token, child), daemon=True)
            self.process.start()

    def start(self, label: str, interval: float, limit: int) -> None:
        if self.in_loader:
            self.stop_event.clear()
            self.task = asyncio.create_task(
                ask_decisions(self.port, self.token, label, interval, limit, self.stop_event.is_set)
            )
        else:
            self.conn.send(("run", label, interval, limit))

    async def finish(self, stop: bool, max_seconds: float) -> list[Sample]:
        """The samples of the run, stopping it first when `stop`."""
        if self.in_loader:
            assert self.task is not None
            if stop:
                self.stop_event.set()
            return await asyncio.wait_for(self.task, max_seconds)
        if stop:
            self.conn.send("stop")
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self.conn.poll, max_seconds)
        if not ready:
            raise RuntimeError(f"the probe did not finish within {max_seconds:g} s")
        return [Sample(*s) for s in self.conn.recv()]

    def close(self) -> None:
        if self.process is not None:
            self.conn.send("exit")
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()


# --- PostgreSQL's own view, sampled ---------------------------------------------------------


async def sample_pg(url: str, stop: asyncio.Event, every: float, limit: int) -> dict[str, int]:
    """Count, over samples of pg_stat_activity and pg_locks, the backends of this database
    by state and wait event, and the lock requests not granted."""
    counts: dict[str, int] = {}
    database = connect(url)
    query = text(
        "SELECT coalesce(state, '-') || ' / ' || coalesce(wait_event_type, '-') || ':'"
        " || coalesce(wait_event, '-') AS what, count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend' GROUP BY 1"
    )
    locks = text(
        "SELECT locktype || ' ' || mode, count(*) FROM pg_locks WHERE NOT granted GROUP BY 1"
    )
    try:
        async with database.engine.connect() as conn:
            for _ in range(limit):
                if stop.is_set():
                    break
                rows = [*(await conn.execute(query)).all(), *(await conn.execute(locks)).all()]
                await conn.rollback()
                counts["samples"] = counts.get("samples", 0) + 1
                for what, n in rows:
                    counts[str(what)] = counts.get(str(what), 0) + int(n)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every)
    finally:
        await database.dispose()
    return counts


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    idle: list[dict[str, Any]] = field(default_factory=list)
    load: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    holds: list[Hold] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    loop_busy: float = float("nan")
    server_cpu: float = float("nan")
    load_seconds: float = 0.0
    events: int = 0
    pg: dict[str, int] = field(default_factory=dict)
    plain: bool = False
    machine_busy: float = float("nan")
    loader_cpu: float = float("nan")
    api_loop_busy: float = float("nan")
    api_cpu: float = float("nan")
    """Share of all the machine's cores busy during the load, with anything else running."""
    idle_totals: list[float] = field(default_factory=list)
    load_totals: list[float] = field(default_factory=list)


def decisions(samples: list[Sample], traces: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each answered decision as ms: its client total, before/after the handler, its parts."""
    rows = []
    for s in samples:
        t = traces.get(s.request_id)
        if s.status != 200 or t is None:
            continue
        row = {part: ms for part, ms in ((p, 1000 * v) for p, v in t["parts"].items())}
        row["total"] = 1000 * (s.received - s.sent)
        row["before"] = 1000 * (t["t_in"] - s.sent)
        row["after"] = 1000 * (s.received - t["t_out"])
        handler = 1000 * (t["t_out"] - t["t_in"])
        row["rest"] = handler - sum(row[p] for p in PARTS)
        row["steps"] = t["steps"]
        row["db_cpu"] = 1000 * t["db_cpu"]
        row["queue_ahead"] = t["queue_ahead"]
        row["calls"] = t["calls"]
        row["put"] = 1000 * t["put_seconds"]
        rows.append(row)
    return rows


async def measure(backend: str, url: str, schema: str | None, args: argparse.Namespace) -> Result:
    token = await prepare(url, schema)
    server = start_server(url, schema, args)
    api: Server | None = None
    result = Result(backend, plain=args.plain)
    probe: Probe | None = None
    samples: dict[str, list[Sample]] = {}
    measured: dict[str, Any] = {}
    from_api: dict[str, Any] = {}
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        if args.api_process:
            api = start_server(url, schema, args)
        servers = [server] if api is None else [server, api]
        probe = Probe((api or server).port, token, args.probe_in_loader)
        connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            sender = Sender(session, server.port)
            for t in range(50):
                team = {"ref": f"T-{t:02d}", "name": f"Team {t}", "kind": "assessment"}
                await sender.send("team.upserted", team)
            for i in range(10):
                await sender.send("worker.upserted", worker_data(i, args.nqsw_every))
            probe.start("idle", args.interval, args.idle)
            samples["idle"] = await probe.finish(False, 10 + args.idle * (args.interval + 5))

            stop = asyncio.Event()
            pg = (
                asyncio.create_task(sample_pg(args.pg_url, stop, 0.1, int(args.max_seconds * 10)))
                if backend == "postgresql"
                else None
            )
            for each in servers:
                each.mark("load-start")
            cpu_started = machine_cpu()
            loader_cpu = time.process_time()
            probe.start("load", args.interval, 10 + int(args.max_seconds / args.interval))
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
            await bounded(
                args.allocations,
                args.concurrency,
                lambda i: sender.send("allocation.started", allocation_data(i, args.workers)),
            )
            result.load_seconds = time.perf_counter() - started
            result.machine_busy = machine_busy(cpu_started, machine_cpu())
            result.loader_cpu = (time.process_time() - loader_cpu) / result.load_seconds
            samples["load"] = await probe.finish(True, 120)
            for each in servers:
                each.mark("load-end")
            stop.set()
            if pg is not None:
                result.pg = await pg
            result.events = args.workers + 2 * args.allocations
    finally:
        if probe is not None:
            probe.close()
        measured = server.stop()
        if api is not None:
            from_api = api.stop()
    answered = {run: [s for s in samples.get(run, []) if s.status == 200] for run in samples}
    result.idle_totals = [1000 * (s.received - s.sent) for s in answered.get("idle", [])]
    result.load_totals = [1000 * (s.received - s.sent) for s in answered.get("load", [])]
    all_traces = measured.get("traces", []) + from_api.get("traces", [])
    traces = {t["request_id"]: t for t in all_traces}
    result.idle = decisions(samples.get("idle", []), traces)
    result.load = decisions(samples.get("load", []), traces)
    result.failed = sum(1 for run in samples.values() for s in run if s.status != 200)
    window = load_window(measured.get("marks", {}))
    if window is not None:
        w0, w1, result.loop_busy, result.server_cpu = window
        holds = measured.get("holds", []) + from_api.get("holds", [])
        result.holds = [Hold(*h) for h in holds if w0 <= h[1] <= w1]
        result.webhooks = [
            t for t in all_traces if t["path"] == "/webhooks/case-events" and w0 <= t["t_in"] <= w1
        ]
    api_window = load_window(from_api.get("marks", {}))
    if api_window is not None:
        _, _, result.api_loop_busy, result.api_cpu = api_window
    return result


def load_window(
    marks: dict[str, tuple[float, float, float]],
) -> tuple[float, float, float, float] | None:
    """The load's start and end, and over it the server's loop busy share and CPU share."""
    if "load-start" not in marks or "load-end" not in marks:
        return None
    (w0, i0, c0), (w1, i1, c1) = marks["load-start"], marks["load-end"]
    return w0, w1, 1 - (i1 - i0) / (w1 - w0), (c1 - c0) / (w1 - w0)


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat (Linux); (0, 0) elsewhere."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def machine_busy(start: tuple[int, int], end: tuple[int, int]) -> float:
    total = end[1] - start[1]
    return (end[0] - start[0]) / total if total else float("nan")


async def with_pg_schema(url: str, args: argparse.Namespace) -> Result:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = connect(url)
    try:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            return await measure("postgresql", url, schema, args)
        finally:
            async with admin.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


# --- the report ------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def band(rows: list[dict[str, Any]], low: float, high: float) -> list[dict[str, Any]]:
    """The rows whose total lies between the `low` and `high` percentiles of totals."""
    totals = [r["total"] for r in rows]
    lo, hi = percentile(totals, low), percentile(totals, high)
    return [r for r in rows if lo <= r["total"] <= hi]


def mean(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.fmean(r[key] for r in rows) if rows else float("nan")


LINES = (
    ("total", "client total (ms)"),
    ("before", "before the handler: request in, server loop noticing it"),
    ("loop", "(1) waiting for the event loop, inside the handler"),
    ("pool", "(2) waiting for a pool connection"),
    ("lock", "(3) waiting for the write queue (SQLite) / chain lock (PostgreSQL)"),
    ("db", "(4) executing statements (SQLite thread / PostgreSQL round trip)"),
    ("handoff", "    handing each call to aiosqlite's thread (thread wake-up, GIL)"),
    ("cpu", "(5) the decision's own Python CPU (thread CPU of its steps)"),
    ("preempted", "    its steps' wall time off CPU (OS scheduler, GIL held elsewhere)"),
    ("put", "    of (5)+preempted: handing calls to aiosqlite's thread (put_nowait)"),
    ("after", "after the handler: the answer back to the client"),
    ("body", "the request's body arriving, until the loop saw it"),
    ("other", "other awaits"),
    ("rest", "unattributed (handler time less the parts above)"),
    ("steps", "  wake-ups (steps) per decision"),
    ("calls", "  aiosqlite calls (thread round trips) per decision"),
    ("queue_ahead", "  writers ahead in the SQLite write queue on arrival"),
)


def report(r: Result) -> str:
    if r.plain:
        return (
            f"{r.backend} (not instrumented): {len(r.idle_totals)} idle decisions, p50 "
            f"{percentile(r.idle_totals, 50):.1f} ms; {len(r.load_totals)} under load, p50 "
            f"{percentile(r.load_totals, 50):.1f} ms, p99 {percentile(r.load_totals, 99):.1f} ms"
            f" ({r.failed} not 200); {r.events:,} events in {r.load_seconds:.1f} s;"
            f" machine {100 * r.machine_busy:.0f}% busy"
        )
    columns = (
        ("idle p50", band(r.idle, 45, 55)),
        ("load p50", band(r.load, 45, 55)),
        ("load p99", band(r.load, 98, 100)),
        ("load mean", r.load),
    )
    width = max(len(label) for _, label in LINES)
    head = f"{'':{width}} | " + " | ".join(f"{name:>9}" for name, _ in columns)
    out = [
        f"{r.backend}: {len(r.idle)} idle decisions, {len(r.load)} under load "
        f"({r.failed} not 200); {r.events:,} events in {r.load_seconds:.1f} s",
        head,
        "-" * len(head),
    ]
    for key, label in LINES:
        if key in ("queue_ahead", "calls", "put") and r.backend != "sqlite":
            continue
        cells = " | ".join(f"{mean(rows, key):9.1f}" for _, rows in columns)
        out.append(f"{label:{width}} | {cells}")
    out.append(
        f"server during the load: loop busy {100 * r.loop_busy:.0f}% of wall time, "
        f"process CPU {100 * r.server_cpu:.0f}% of one core; all {os.cpu_count()} cores "
        f"{100 * r.machine_busy:.0f}% busy; the loader (this process) "
        f"{100 * r.loader_cpu:.0f}% of one core"
    )
    if r.api_loop_busy == r.api_loop_busy:  # not NaN: the decisions had a process of their own
        out.append(
            f"the decision API's own process: loop busy {100 * r.api_loop_busy:.0f}%, "
            f"process CPU {100 * r.api_cpu:.0f}% of one core"
            + (
                "; a chain lock held by the other process is counted in (4), not (3)"
                if r.backend == "postgresql"
                else "; SQLite's file lock (BEGIN IMMEDIATE, busy timeout) is counted in (3)"
            )
        )
    if r.webhooks:
        handler = [1000 * (t["t_out"] - t["t_in"]) for t in r.webhooks]
        cpu = [1000 * t["parts"]["cpu"] for t in r.webhooks]
        calls = statistics.fmean(t["calls"] for t in r.webhooks)
        put = statistics.fmean(1000 * t["put_seconds"] for t in r.webhooks)
        out.append(
            f"webhooks during the load: {len(r.webhooks)}, handler p50 "
            f"{percentile(handler, 50):.1f} ms, own Python CPU p50 {percentile(cpu, 50):.1f} ms"
            f" (mean {statistics.fmean(cpu):.1f} ms"
            + (f", of which {put:.1f} ms handing {calls:.0f} calls to aiosqlite)" if calls else ")")
        )
    out += holds_report(r)
    if r.pg:
        samples = r.pg.pop("samples", 1)
        seen = ", ".join(
            f"{what} {n / samples:.2f}" for what, n in sorted(r.pg.items(), key=lambda kv: -kv[1])
        )
        out.append(f"pg_stat_activity / pg_locks, mean backends per sample ({samples}): {seen}")
    return "\n".join(out)


PARTS_AT_P50 = (
    ("loop", "(1) waiting for the event loop in the handler"),
    ("lock", "(3) write queue (SQLite) / chain lock (PostgreSQL)"),
    ("db", "(4) statements"),
    ("cpu", "(5) the decision's own Python CPU"),
)
"""The parts of a decision at p50 that the findings in bench/README.md turn on."""


def figures(results: list[Result]) -> list[Figure]:
    out = []
    for r in results:
        b = r.backend
        out += [
            Figure(f"{b}: idle decision p50", percentile(r.idle_totals, 50), "ms"),
            Figure(f"{b}: decision under load p50", percentile(r.load_totals, 50), "ms"),
            Figure(
                f"{b}: decision under load p99",
                percentile(r.load_totals, 99),
                "ms",
                LOAD_P99_TARGET_MS,
                None,
                "lower",
            ),
            Figure(f"{b}: decisions not 200", r.failed, "requests"),
            Figure(
                f"{b}: events ingested meanwhile",
                r.events / r.load_seconds if r.load_seconds else None,
                "events/s",
            ),
            Figure(f"{b}: machine busy during the load", 100 * r.machine_busy, "%"),
        ]
        if not r.plain:
            at_p50 = band(r.load, 45, 55)
            out += [
                Figure(f"{b}: at p50 under load, {label}", mean(at_p50, key), "ms")
                for key, label in PARTS_AT_P50
            ]
    return out


def holds_report(r: Result) -> list[str]:
    what = "write queue (the SQLite lock)" if r.backend == "sqlite" else "chain lock"
    out = []
    for path in sorted({h.path for h in r.holds}):
        holds = [h for h in r.holds if h.path == path]
        seconds = [1000 * h.seconds for h in holds]
        parts = {p: statistics.fmean(1000 * h.parts[p] for h in holds) for p in PARTS}
        share = ", ".join(f"{p} {ms:.1f}" for p, ms in parts.items() if ms >= 0.05)
        out.append(
            f"{what} held by {path}: {len(holds)} holds, p50 {percentile(seconds, 50):.1f} ms,"
            f" p99 {percentile(seconds, 99):.1f} ms, mean {statistics.fmean(seconds):.1f} ms"
            f" = {share}"
        )
    return out


# --- the command -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allocations", type=int, default=1_500, help="allocations (1,500)")
    parser.add_argument("--workers", type=int, default=100, help="workers they go to (100)")
    parser.add_argument("--nqsw-every", type=int, default=10, help="every Nth worker is an NQSW")
    parser.add_argument("--concurrency", type=int, default=8, help="bulk requests in flight (8)")
    parser.add_argument("--idle", type=int, default=60, help="decisions before the load (60)")
    parser.add_argument(
        "--interval-ms", type=float, default=50.0, help="a decision every N ms (50)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=900, help="bound on the probe's loop (900)"
    )
    parser.add_argument(
        "--probe-in-loader",
        action="store_true",
        help="ask the decisions from the loader's own loop, as ingest_bench.py does",
    )
    parser.add_argument(
        "--pg-url", default=PG_URL, help=f"PostgreSQL to use if it answers ({PG_URL})"
    )
    parser.add_argument(
        "--interactive-first",
        action="store_true",
        help="what-if: SQLite's write queue serves decisions before queued webhooks",
    )
    parser.add_argument(
        "--api-process",
        action="store_true",
        help="what-if: the decisions are served by a second server process of their own",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="no instruments in the server: the client's totals only, to see their cost",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    only.add_argument("--pg-only", action="store_true", help="skip SQLite")
    add_json_option(parser)
    args = parser.parse_args(argv)
    args.interval = args.interval_ms / 1000
    for name in ("allocations", "workers", "nqsw_every", "concurrency", "idle"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


async def run(args: argparse.Namespace, skipped: dict[str, str]) -> list[Result]:
    """Each backend's result; a part not run is added to `skipped`, with why."""
    results: list[Result] = []
    print(f"{args.workers:,} workers, {args.allocations:,} cases and allocations", flush=True)
    if not args.pg_only:
        with tempfile.TemporaryDirectory(prefix="caseload-bench-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
            print("sqlite ...", flush=True)
            results.append(await measure("sqlite", url, None, args))
    results += await on_postgresql(
        args.pg_url,
        args.sqlite_only,
        skipped,
        "in a fresh schema",
        partial(with_pg_schema, args.pg_url, args),
    )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    skipped: dict[str, str] = {}
    results = asyncio.run(run(args, skipped))
    write_json("decision_latency", args, figures(results), skipped)
    for r in results:
        print()
        print(report(r))
    where = "the loader's loop" if args.probe_in_loader else "a process of its own"
    what_ifs = [
        text
        for flag, text in (
            (args.interactive_first, "SQLite's write queue serves decisions first"),
            (args.api_process, "decisions served by a second server process"),
        )
        if flag
    ]
    if what_ifs:
        print("\nWHAT-IF, not the product as it is: " + "; ".join(what_ifs) + ".")
    print(
        f"\nA decision every {args.interval_ms:g} ms from {where}; load: {args.workers:,} "
        f"worker.upserted + {args.allocations:,} case.upserted + {args.allocations:,} "
        f"allocation.started, {args.concurrency} in flight."
        f"\nCPU: {os.cpu_count()} logical; Python {sys.version.split()[0]}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
