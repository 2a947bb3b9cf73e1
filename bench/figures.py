"""The headline figures a benchmark writes with `--json PATH`, so that `bench/run_all.py`
can put every benchmark in one table without parsing their human output."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

NO_PG = "no PostgreSQL"
"""Why a PostgreSQL part was skipped: nothing answered where it was looked for."""


@dataclass(frozen=True)
class Figure:
    """One measured value; `target` and `must` are the issue's, where the script knows them."""

    metric: str
    value: float | None
    unit: str
    target: float | None = None
    must: float | None = None
    better: Literal["higher", "lower"] = "higher"


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="also write the headline figures as JSON to PATH (bench/run_all.py reads it)",
    )


def _finite(value: float | None) -> float | None:
    """JSON has no NaN: a percentile of no samples is written as null."""
    return None if value is None or math.isnan(value) else value


def write_json(
    name: str,
    args: argparse.Namespace,
    figures: Iterable[Figure],
    skipped: Mapping[str, str] | None = None,
) -> None:
    """Write `args.json` if given: the parameters the run had (its argparse options), its
    figures, and the parts it skipped with why (`{"postgresql": NO_PG}`)."""
    path: Path | None = args.json
    if path is None:
        return
    parameters: dict[str, Any] = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in vars(args).items()
        if key != "json"
    }
    document = {
        "name": name,
        "parameters": parameters,
        "figures": [{**asdict(f), "value": _finite(f.value)} for f in figures],
        "skipped": dict(skipped or {}),
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
