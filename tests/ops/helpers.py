"""Reading /metrics as Prometheus does (the text format parsed into samples), and the log
lines a test wrote as `serve` writes them."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.logs import JsonFormatter
from tests.chat.world import COHORTS, events

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def scrape(client: TestClient[Any, Any], token: str | None = None) -> Samples:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    return parse(await response.text())


def decisions(samples: Samples, source: str) -> dict[str, float]:
    """The decision counters of one source, by outcome."""
    out = {}
    for outcome in ("allowed", "co_work_only", "not_allowed"):
        found = value(samples, "caseload_decisions_total", source=source, outcome=outcome)
        assert found is not None, (source, outcome)
        out[outcome] = found
    return out


def logged(records: list[logging.LogRecord]) -> list[str]:
    """The records as `serve` writes them (JSON, with their `extra` fields and tracebacks)."""
    formatter = JsonFormatter()
    return [formatter.format(record) for record in records]


def world_names() -> set[str]:
    """The names of every person of the chat test world."""
    return {e["data"]["name"] for e in events() if e["type"] == "worker.upserted"}


def world_cohort_values() -> set[str]:
    """Every cohort value of the chat test world: special-category data, never logged."""
    return {value for values in COHORTS.values() for value in values.values()}


def lines_naming(lines: list[str], words: set[str]) -> list[str]:
    return [line for line in lines if any(word in line for word in words)]
