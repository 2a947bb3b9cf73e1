"""Reading /metrics as Prometheus does: the text format parsed into samples."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

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
