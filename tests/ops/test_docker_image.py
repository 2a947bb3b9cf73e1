"""The image, where a Docker daemon answers (`docker info` succeeds): built from this
checkout, it migrates its SQLite default and serves /healthz and /readyz, as a user that is
not root, and its HEALTHCHECK command succeeds. `docker compose config` accepts compose.yaml
where the compose plugin exists. Elsewhere each test is skipped, saying what is missing.

The build takes minutes (it installs every dependency); nothing else in the suite needs
Docker."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.ops.test_packaging import ROOT

BUILD_S = 1200
UP_S = 60


def _missing(*command: str) -> str | None:
    """Why `command` cannot run here, or None when it succeeds."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    try:
        done = subprocess.run(["docker", *command], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return f"`docker {' '.join(command)}` did not answer within 30 s"
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return f"`docker {' '.join(command)}` failed: {said[0] if said else done.returncode}"
    return None


def _docker(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (args, done.stderr[-3000:])
    return done.stdout.strip()


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    why = _missing("info")
    if why is not None:
        pytest.skip(f"no Docker daemon: {why}")
    tag = f"caseload-bot:test-{uuid.uuid4().hex[:8]}"
    _docker("build", "--tag", tag, str(ROOT), timeout=BUILD_S)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "rmi", "--force", tag], capture_output=True, timeout=60)


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + UP_S
    while True:
        try:
            if _get(url)[0] == 200:
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {UP_S} s")
        time.sleep(0.5)


def test_the_image_serves_healthz_and_is_ready(image: str) -> None:
    container = _docker("run", "--detach", "--publish", "127.0.0.1::3978", image)
    try:
        host_port = _docker("port", container, "3978/tcp").splitlines()[0]
        base = f"http://{host_port}"
        _wait_until_up(f"{base}/healthz")
        assert _get(f"{base}/healthz") == (200, {"status": "ok"})
        status, ready = _get(f"{base}/readyz")  # `serve --migrate`, the image's default
        assert status == 200 and ready["status"] == "ready", ready
        assert _docker("exec", container, "id", "-u") == "10001"
        test = json.loads(
            _docker("inspect", "--format", "{{json .Config.Healthcheck.Test}}", image)
        )
        assert test[0] == "CMD"
        _docker("exec", container, *test[1:])  # the HEALTHCHECK's own command succeeds
        entrypoint = _docker("inspect", "--format", "{{json .Config.Entrypoint}}", image)
        assert json.loads(entrypoint) == ["caseload-bot"]
        logs = subprocess.run(
            ["docker", "logs", container], capture_output=True, text=True, timeout=60
        )
        assert "caseload-bot on http://0.0.0.0:3978" in logs.stdout  # the start-up lines
        lines = [json.loads(line) for line in logs.stderr.splitlines()]  # JSON, one a line
        assert any(line.get("route") == "/readyz" for line in lines)
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, timeout=60)


def test_compose_config_is_valid() -> None:
    why = _missing("compose", "version")
    if why is not None:
        pytest.skip(f"no docker compose plugin: {why}")
    _docker("compose", "--file", str(ROOT / "compose.yaml"), "config", "--quiet")
