"""The published policies shipped with the product, one YAML file each.

Reading these is reading the package's own data, the one file access `policy/` makes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from policy.errors import UnknownPolicyError
from policy.loader import parse_policy
from policy.schema import PolicyFile

_SUFFIX = ".yaml"
_TESTS = ".test.yaml"


def preset_ids() -> list[str]:
    names = (f.name for f in resources.files(__package__).iterdir())
    return sorted(
        n.removesuffix(_SUFFIX) for n in names if n.endswith(_SUFFIX) and not n.endswith(_TESTS)
    )


def preset_text(preset_id: str) -> tuple[str, str]:
    """(source name, YAML text) of a preset; the shape `parse_policy` asks for parents."""
    if preset_id not in preset_ids():
        raise UnknownPolicyError(preset_id, preset_ids())
    name = f"{preset_id}{_SUFFIX}"
    return f"presets/{name}", resources.files(__package__).joinpath(name).read_text("utf-8")


def preset_tests_text(preset_id: str) -> tuple[str, str] | None:
    name = f"{preset_id}{_TESTS}"
    ref = resources.files(__package__).joinpath(name)
    return (f"presets/{name}", ref.read_text("utf-8")) if ref.is_file() else None


@cache
def load_preset(preset_id: str) -> PolicyFile:
    source, text = preset_text(preset_id)
    return parse_policy(text, source, parent=preset_text)
