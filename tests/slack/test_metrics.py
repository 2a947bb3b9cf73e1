"""Allocation checks asked in Slack count in /metrics under `source="slack"` and their
outcome; a command that decides nothing counts no decision; every answer is timed."""

from __future__ import annotations

from tests.ops.helpers import decisions, scrape, value
from tests.slack.conftest import NQSW, Slack


async def test_checks_in_slack_count_by_outcome(slack: Slack) -> None:
    allowed = await slack.answer("/allocate", f"C-1 to <@{NQSW}> as lead")
    denied = await slack.answer("/allocate", f"C-2 to <@{NQSW}> as lead")
    await slack.answer("/caseload", "", user=NQSW)
    assert allowed["text"].startswith("Allowed") and denied["text"].startswith("Not allowed")
    samples = await scrape(slack.client)
    assert decisions(samples, "slack") == {"allowed": 1, "co_work_only": 0, "not_allowed": 1}
    assert set(decisions(samples, "api").values()) == {0}
    name = "caseload_chat_command_duration_seconds_count"
    assert value(samples, name, platform="slack", command="Check") == 2
    assert value(samples, name, platform="slack", command="Caseload") == 1
