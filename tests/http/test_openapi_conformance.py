"""schemathesis against the live /openapi.json of the real app on a real port: every
operation, with generated valid and invalid requests, must never answer 5xx and every answer
must be one the document describes (status, content type, body schema, headers).

Bearer requests carry a real token, webhook bodies are signed (tests/http/schemathesis_hooks.py),
and dictionaries steer some values to the organisation and workers that exist, so requests
reach past the 401s and 404s to the code that decides and stores.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from aiohttp import ClientSession

from tests.http.conftest import STOKE, Live, body_of, event, sign, worker

ROOT = Path(__file__).resolve().parents[2]
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    # Other methods than a path's own: 405, with an Allow header naming exactly those.
    "unsupported_method",
    "allow_header_conformance",
]
CONFIG = f"""
[dictionaries.orgs]
values = ["{STOKE}"]
[dictionaries.workers]
values = ["NQ-1", "TM-1"]
[dictionaries.work_types]
values = ["child_in_need", "child_protection", "private_law", "child_in_care"]

[parameters]
"query.org" = {{ dictionary = "orgs", probability = 0.5 }}
"path.ref" = {{ dictionary = "workers", probability = 0.7 }}
"body.org" = {{ dictionary = "orgs", probability = 0.7 }}
"body.worker_ref" = {{ dictionary = "workers", probability = 0.7 }}
"body.proposal.work_type" = {{ dictionary = "work_types", probability = 0.7 }}
"""


async def _seed(live: Live) -> None:
    """NQ-1 on the ASYE and TM-1 without a record, as the case system would send them."""
    async with ClientSession(live.url) as client:
        for data in (worker("NQ-1"), worker("TM-1", roles=("team_manager",), asye_days_ago=None)):
            body = body_of(event("worker.upserted", data))
            response = await client.post("/webhooks/case-events", data=body, headers=sign(body))
            assert response.status == 202, await response.text()


async def test_the_live_server_keeps_to_its_openapi_document(live: Live, tmp_path: Path) -> None:
    await _seed(live)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{live.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        "25",
        "--header",
        f"Authorization: Bearer {live.token}",
        "--request-timeout",
        "20",
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.http.schemathesis_hooks",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-8000:]
    assert "9 selected / 9 total" in report, report[-3000:]
    # The token and the signatures work: requests got past authentication.
    assert "Authentication failed" not in report, report[-3000:]
