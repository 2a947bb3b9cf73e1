"""Finds a policy by preset id or file path: the one place the product reads policy files."""

from __future__ import annotations

from pathlib import Path

from policy import PolicyFile, UnknownPolicyError, parse_policy, preset_ids, preset_text


def read_policy(ref: str) -> tuple[PolicyFile, str]:
    """The validated policy and its YAML text (kept so every decision can be reproduced)."""
    if ref in preset_ids():
        source, text = preset_text(ref)
    else:
        path = Path(ref)
        if not path.is_file():
            raise UnknownPolicyError(ref, preset_ids())
        source, text = str(path), path.read_text("utf-8")
    return parse_policy(text, source, parent=preset_text), text
