"""Prometheus metrics, in a registry of the application's own (tests build many apps in one
process; the global registry would refuse the second). Counters and histograms are counted
here in `bot/` as requests and answers pass; the database's figures (open breaches, the
outbox) are read at scrape time, in one bounded read transaction. Ids and counts only:
never a person's name, never a case reference."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from handlers.chat.replies import Reply
from handlers.errors import StorageError
from handlers.ports import OutboxDepth, Platform, Transactions
from policy import Outcome

log = logging.getLogger("caseload_bot.metrics")

DecisionSource = Literal["api", "slack", "teams", "web"]
OUTCOMES = {Outcome.ALLOW: "allowed", Outcome.CO_WORK: "co_work_only", Outcome.DENY: "not_allowed"}
"""The label of each outcome: the verdict's words, as chat shows them."""

STORE_TIMEOUT_S = 2.0
"""A scrape waits no longer than this for the database's figures; without them it still
answers, with `caseload_database_up 0`."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class StoreFigures:
    open_breaches: dict[str, int]
    """By organisation id, every organisation (0 when none)."""
    outbox: OutboxDepth
    at: dt.datetime


class StoreCollector:
    """The gauges the database holds: what the last scrape read (`Metrics.exposition`)."""

    def __init__(self) -> None:
        self.figures: StoreFigures | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        yield GaugeMetricFamily(
            "caseload_database_up",
            "1 when this scrape read the database's figures, 0 when it could not",
            value=0 if f is None else 1,
        )
        if f is None:
            return
        breaches = GaugeMetricFamily(
            "caseload_open_breaches",
            "Unresolved (open or acknowledged) breaches, by organisation id",
            labels=["org"],
        )
        for org, count in sorted(f.open_breaches.items()):
            breaches.add_metric([org], count)
        yield breaches
        yield GaugeMetricFamily(
            "caseload_outbox_pending",
            "Messages waiting in the outbox to be sent (due or not)",
            value=f.outbox.pending,
        )
        yield GaugeMetricFamily(
            "caseload_outbox_failed",
            "Messages parked after their last attempt (`caseload-bot outbox list --failed`)",
            value=f.outbox.failed,
        )
        oldest = f.outbox.oldest_due
        yield GaugeMetricFamily(
            "caseload_outbox_oldest_pending_age_seconds",
            "How long the oldest due message has waited past its due time (0 when none is due)",
            value=0.0 if oldest is None else max(0.0, (f.at - oldest).total_seconds()),
        )


async def read_store(tx: Transactions, now: dt.datetime) -> StoreFigures | None:
    """One read transaction of two grouped counts; None when the database does not answer
    in time (logged, without a traceback: monitoring says it, not the log)."""
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S), tx.read() as uow:
            orgs = await uow.orgs.ids()
            counts = await uow.breaches.unresolved_counts()
            depth = await uow.outbox.depth(now)
    except (StorageError, TimeoutError) as exc:
        log.warning("metrics: the database's figures could not be read (%s)", type(exc).__name__)
        return None
    return StoreFigures({org: counts.get(org, 0) for org in orgs}, depth, now)


class Metrics:
    """One application's metrics; `bootstrap` builds it, the app and the chat edges count."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The process defaults, as the global registry has them, in this registry too.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.decisions = Counter(
            "caseload_decisions",
            "Allocation decisions answered, by where they were asked and their outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        for source in get_args(DecisionSource):
            for outcome in OUTCOMES.values():
                self.decisions.labels(source, outcome)  # every series exists from 0
        self.http_seconds = Histogram(
            "caseload_http_request_duration_seconds",
            "HTTP requests (webhooks, Slack, Teams, the API) by route pattern and status class",
            ["route", "status_class"],
            registry=self.registry,
        )
        self.chat_seconds = Histogram(
            "caseload_chat_command_duration_seconds",
            "Time to answer one chat command (whatever its transport), by platform and command",
            ["platform", "command"],
            registry=self.registry,
        )
        self._store = StoreCollector()
        self.registry.register(self._store)

    def decided(self, source: DecisionSource, outcome: Outcome) -> None:
        self.decisions.labels(source, OUTCOMES[outcome]).inc()

    def answered(self, route: str, status: int, seconds: float) -> None:
        self.http_seconds.labels(route, f"{status // 100}xx").observe(seconds)

    def chat_answered(
        self, platform: Platform, command: str, reply: Reply | None, seconds: float
    ) -> None:
        """One chat command answered: its time, and the decision its answer reports."""
        self.chat_seconds.labels(platform, command).observe(seconds)
        if reply is not None and reply.decision is not None:
            self.decided(platform, reply.decision)

    async def exposition(self, tx: Transactions, now: dt.datetime) -> bytes:
        """The text format, with the database's figures read now."""
        self._store.figures = await read_store(tx, now)
        return generate_latest(self.registry)
