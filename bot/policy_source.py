"""Finds a policy by preset id or file path: the one place the product reads policy files."""

from __future__ import annotations

from pathlib import Path

from policy import (
    PolicyFile,
    PolicyFileError,
    UnknownPolicyError,
    parse_policy,
    preset_ids,
    preset_text,
)
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
        source, text = str(path), read_text(path)
    policy = parse_policy(text, source, parent=preset_text)
    return policy, (resolved_yaml(policy) if "extends" in load_yaml(text) else text)


def read_text(path: Path) -> str:
    """A policy or suite file's text; one that is not UTF-8 is named, with the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise PolicyFileError(
            str(path), "", f"is not UTF-8 text (byte 0x{bad} on this line): save it as UTF-8", line
        ) from None
