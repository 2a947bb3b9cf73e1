"""Allocation checks asked in Teams count in /metrics under `source="teams"`."""

from __future__ import annotations

from tests.chat.world import mention
from tests.ops.helpers import decisions, scrape, value
from tests.teams.conftest import Teams


async def test_checks_in_teams_count_by_outcome(teams: Teams) -> None:
    said = teams.activity("TM-1", f"allocate C-CP-1 to {mention('NQ-7')} as lead")
    assert (await teams.post(said)).status in (200, 202)
    assert teams.connector.cards()[-1]["fallbackText"].startswith("Co-work only")
    samples = await scrape(teams.client)
    assert decisions(samples, "teams") == {"allowed": 0, "co_work_only": 1, "not_allowed": 0}
    name = "caseload_chat_command_duration_seconds_count"
    assert value(samples, name, platform="teams", command="Check") == 1
