"""An organisation's policy in force, compiled once per text: every event and decision
needs it, and parsing a policy file costs far more than deciding."""

from __future__ import annotations

from functools import lru_cache

from handlers.ports import OrgRecord
from policy import CompiledPolicy, compile_policy, parse_policy, preset_text


def compiled_policy(org: OrgRecord) -> CompiledPolicy:
    return _compile(org.policy_source, org.policy_yaml)


@lru_cache(maxsize=64)
def _compile(source: str, text: str) -> CompiledPolicy:
    return compile_policy(parse_policy(text, source, parent=preset_text))
