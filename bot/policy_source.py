"""Finds a policy by preset id or file path: the one place the product reads policy files."""

from __future__ import annotations

from pathlib import Path

from policy import PolicyFile, UnknownPolicyError, parse_policy, preset_ids, preset_text
from policy.loader import load_yaml, resolved_yaml


def read_policy(ref: str) -> tuple[PolicyFile, str]:
    """The validated policy and its YAML text (kept so every decision can be reproduced).

    A file that extends a preset comes back resolved, as one self-contained document.
    """
    if ref in preset_ids():
        source, text = preset_text(ref)
    else:
        path = Path(ref)
        if not path.is_file():
            raise UnknownPolicyError(ref, preset_ids())
        source, text = str(path), path.read_text("utf-8")
    policy = parse_policy(text, source, parent=preset_text)
    return policy, (resolved_yaml(policy) if "extends" in load_yaml(text) else text)
