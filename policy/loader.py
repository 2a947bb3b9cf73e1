"""Turns policy YAML text into a checked `PolicyFile`.

Pure: the caller hands in the text and a way to fetch the text of a parent policy for
`extends:`; this module never opens a file itself.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from policy.errors import PolicyFileError
from policy.schema import PolicyFile, Requirement, Selector

ParentText = Callable[[str], tuple[str, str]]
"""Given a policy id, returns (source name, YAML text) of that policy."""


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 reads `on:`, the date key of every
    request, as the boolean True (and `no`, `off`, `yes` likewise)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)


def parse_policy(text: str, source: str, parent: ParentText | None = None) -> PolicyFile:
    data, lines = _read_yaml(text, source)
    seen = {data.get("id")} if isinstance(data, dict) else set()
    while isinstance(data, dict) and "extends" in data:
        base_id = str(data.pop("extends"))
        if parent is None or base_id in seen:
            raise PolicyFileError(
                source, "extends", f"cannot extend {base_id!r}", lines.get(("extends",))
            )
        seen.add(base_id)
        base_source, base_text = parent(base_id)
        base, _ = _read_yaml(base_text, base_source)
        data = _merge(base, data)
    if not isinstance(data, dict):
        raise PolicyFileError(source, "", "a policy file is a YAML mapping (key: value lines)")
    try:
        policy = PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise file_error(exc, source, lines) from None
    for path, message in _cross_reference_problems(policy):
        raise PolicyFileError(source, path, message, lines.get(_loc_of(path)))
    return policy


def resolved_yaml(policy: PolicyFile) -> str:
    """The whole policy as one self-contained YAML document, `extends:` already applied.

    An organisation stores this, so the rules in force never change when a later release
    changes the preset the council's file extends.
    """
    data = policy.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def lint_warnings(policy: PolicyFile) -> list[str]:
    """Things that are valid but probably not what the council meant."""
    warnings: list[str] = []
    caps = [
        ("caps.children", policy.caps.children, "children"),
        ("caps.points", policy.caps.points, "points"),
    ]
    for path, cap, unit in caps:
        if cap is None:
            continue
        relative = any(phase.relative is not None for phase in cap.phases)
        reference = policy.reference_caseload
        if relative and (reference is None or getattr(reference, unit) is None):
            warnings.append(
                f"{path}: a cap relative to the reference caseload is not enforced until"
                f" reference_caseload.{unit} is set (extend this policy and set it)"
            )
    weights = policy.caps.points.weights if policy.caps.points else None
    if weights is not None and weights.default is None:
        missing = [w.id for w in policy.work_types if w.id not in weights.work_types]
        if missing:
            warnings.append(
                f"caps.points.weights: no points for {', '.join(missing)} (counted as 0)"
            )
    return warnings


def _read_yaml(text: str, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyFileError(source, "", f"not valid YAML: {problem}", line) from None
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def _index_lines(
    node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]
) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, str(key.value))] = key.start_mark.line + 1
            _index_lines(value, (*path, str(key.value)), out)
            out[(*path, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), out)


def _line_of(lines: Mapping[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        key = tuple("from" if part == "from_" else part for part in loc[:end])
        if key in lines:
            return lines[key]
    return None


def _loc_of(path: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for piece in path.replace("]", "").split("."):
        name, _, index = piece.partition("[")
        parts.append(name)
        if index:
            parts.append(int(index))
    return tuple(parts)


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + ("from" if part == "from_" else part)
    return out


def file_error(
    exc: ValidationError, source: str, lines: Mapping[tuple[str | int, ...], int] | None = None
) -> PolicyFileError:
    """A YAML file's first problem, by path and line. A misspelt key also leaves its
    correct spelling "missing": the misspelling is reported."""
    err = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    loc = tuple(err["loc"])
    line = None if lines is None else _line_of(lines, loc)
    return PolicyFileError(source, _dotted(loc), _message(err), line)


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (check its spelling against the policy file reference in the README)"
    if err["type"] == "missing":
        return "required key is missing"
    text = str(err["msg"])
    return text.removeprefix("Value error, ")


def _merge(base: Any, override: Any) -> Any:
    """Deep merge for `extends`: mappings merge key by key; lists of rules merge by `id`."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list) and _all_have_ids(base + override):
        by_id = {item["id"]: item for item in base}
        for item in override:
            by_id[item["id"]] = item
        return list(by_id.values())
    return override


def _all_have_ids(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "id" in i for i in items)


def _cross_reference_problems(policy: PolicyFile) -> Iterator[tuple[str, str]]:
    work_types = {w.id for w in policy.work_types}
    flags = {f.id for f in policy.flags}
    agreements = {a.id for a in policy.agreements}

    seen: set[str] = set()
    rules: list[tuple[str, str]] = [(f"gates[{i}].id", g.id) for i, g in enumerate(policy.gates)]
    rules += [(f"limits[{i}].id", lim.id) for i, lim in enumerate(policy.limits)]
    rules += [(f"team_limits[{i}].id", t.id) for i, t in enumerate(policy.team_limits)]
    rules += [
        (f"caps.{name}.id", cap.id)
        for name, cap in (("children", policy.caps.children), ("points", policy.caps.points))
        if cap
    ]
    for path, rule_id in rules:
        if rule_id in seen:
            yield path, f"rule id {rule_id!r} is used twice; each rule needs its own id"
        seen.add(rule_id)

    for i, gate in enumerate(policy.gates):
        yield from _selector_problems(f"gates[{i}].applies_to", gate.applies_to, work_types, flags)
        for role in ("lead", "co_work"):
            req = getattr(gate, role)
            if req is not None:
                yield from _requirement_problems(f"gates[{i}].{role}", req, agreements)
        if (
            gate.lead is None
            and gate.co_work is None
            and not (gate.conditions.lead or gate.conditions.co_work)
        ):
            yield f"gates[{i}]", "a gate needs lead, co_work or conditions; this one says nothing"
    for i, limit in enumerate(policy.limits):
        yield from _selector_problems(
            f"limits[{i}].applies_to", limit.applies_to, work_types, flags
        )
    for name, cap in (("children", policy.caps.children), ("points", policy.caps.points)):
        if cap is None:
            continue
        for j, phase in enumerate(cap.phases):
            if phase.from_ is not None:
                yield from _requirement_problems(
                    f"caps.{name}.phases[{j}].from", phase.from_, agreements
                )
    if policy.caps.points is not None:
        weights = policy.caps.points.weights
        for wt in weights.work_types:
            yield from _known("caps.points.weights.work_types", wt, work_types, "work type")
        for flag in weights.flags:
            yield from _known("caps.points.weights.flags", flag, flags, "flag")
    if policy.escalation is not None:
        steps = [s.step for s in policy.escalation.ladder]
        if steps != list(range(1, len(steps) + 1)):
            yield "escalation.ladder", f"steps are numbered 1, 2, 3… in order (got {steps})"


def _selector_problems(
    path: str, sel: Selector, work_types: set[str], flags: set[str]
) -> Iterator[tuple[str, str]]:
    for j, wt in enumerate(sel.work_types or ()):
        yield from _known(f"{path}.work_types[{j}]", wt, work_types, "work type")
    for key in ("flags_any", "flags_none"):
        for j, flag in enumerate(getattr(sel, key)):
            yield from _known(f"{path}.{key}[{j}]", flag, flags, "flag")


def _requirement_problems(
    path: str, req: Requirement, agreements: set[str]
) -> Iterator[tuple[str, str]]:
    if req.agreement is not None:
        yield from _known(f"{path}.agreement", req.agreement, agreements, "agreement")
    for key in ("all", "any"):
        for j, sub in enumerate(getattr(req, key) or ()):
            yield from _requirement_problems(f"{path}.{key}[{j}]", sub, agreements)


def _known(path: str, value: str, known: set[str], what: str) -> Iterator[tuple[str, str]]:
    if value not in known:
        yield path, unknown_message(value, known, what)


def unknown_message(value: str, known: Collection[str], what: str) -> str:
    close = difflib.get_close_matches(value, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{value!r} is not a {what} of this policy{hint} (known: {', '.join(sorted(known))})"
