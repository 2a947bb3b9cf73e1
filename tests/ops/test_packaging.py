"""The wheel the image installs carries every file the product reads at run time (presets,
migrations, the Slack manifest), built from exactly what the Dockerfile's build stage copies;
compose.yaml runs PostgreSQL 16, one migration and two replicas."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def build_stage_sources() -> list[str]:
    """What the Dockerfile's first stage copies from the checkout."""
    build_stage = (ROOT / "Dockerfile").read_text().split("\nFROM ")[1]
    return [m.group(1) for m in re.finditer(r"^COPY (?!--)(\S+)", build_stage, re.M)]


def test_the_wheel_carries_the_package_data(tmp_path: Path) -> None:
    sources = build_stage_sources()
    assert {"bot", "handlers", "policy", "storage", "pyproject.toml"} <= set(sources)
    src = tmp_path / "src"
    src.mkdir()
    for name in sources:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("caseload_bot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        "bot/slack/manifest.yaml",
        "bot/routes_ops.py",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
        *(
            f"storage/migrations/versions/{p.name}"
            for p in (ROOT / "storage/migrations/versions").glob("*.py")
        ),
        *(f"policy/presets/{p.name}" for p in (ROOT / "policy/presets").glob("*.yaml")),
    }
    assert wanted - names == set()
    assert not any(n.startswith("tests/") or n.startswith("bench/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "caseload-bot = bot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_runs_postgres_one_migration_and_two_replicas() -> None:
    services = _compose()["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert postgres["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert services["migrate"]["command"] == ["db", "upgrade"]
    replicas = [s for name, s in services.items() if name.startswith("bot-")]
    assert len(replicas) == 2
    ports = set()
    for bot in replicas:
        assert bot["command"] == ["serve"]
        assert bot["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert bot["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert bot["depends_on"]["postgres"] == {"condition": "service_healthy"}
        (published,) = bot["ports"]
        ports.add(published.rsplit(":", 2)[-2])
    assert len(ports) == 2  # one published port each
