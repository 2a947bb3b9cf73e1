"""Given/expect test files for policies, in the spirit of `opa test`.

A council changing its policy file writes cases in plain YAML and runs
`caseload-bot policy test FILE`; the presets ship with theirs and the test suite runs them.

    policy: stoke-childrens          # a preset id, or a path relative to this file
    defaults: {worker: {asye_start: 2025-01-06}}
    cases:
      - name: CP lead refused before the six-month review
        clause: Phased Increase of Complex Working > Child Protection
        given: {on: 2025-05-01, caseload: [], proposal: {case_id: C-1, work_type: child_protection, children: 1}}
        expect: {outcome: deny, blocking: [stoke.cp.none-before-six-month-review]}

`kind` is `decide` (default), `entitlements` or `breaches`. In `expect`, `blocking` is the
exact set of rules that did not allow; `conditions_include` lists phrases each found in
some condition; for breaches, `rules` is the exact set of rules breached; any other key is
matched as a subset of the JSON answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policy.engine import CompiledPolicy, breaches, decide, entitlements
from policy.errors import PolicyError, PolicyFileError
from policy.loader import file_error, load_yaml
from policy.requests import parse_caseload_request, parse_decision_request
from policy.views import breaches_json, decision_json, entitlements_json


class SuiteCase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    clause: str = Field(min_length=1)
    kind: str = Field(default="decide", pattern="^(decide|entitlements|breaches)$")
    given: dict[str, Any]
    expect: dict[str, Any]


class Suite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: str
    defaults: dict[str, Any] = {}
    cases: tuple[SuiteCase, ...] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: SuiteCase
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def parse_suite(text: str, source: str) -> Suite:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise PolicyFileError(source, "", f"not valid YAML: {exc}") from None
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise file_error(exc, source) from None


def run_suite(compiled: CompiledPolicy, suite: Suite) -> list[CaseResult]:
    return [run_case(compiled, case, suite.defaults) for case in suite.cases]


def run_case(compiled: CompiledPolicy, case: SuiteCase, defaults: dict[str, Any]) -> CaseResult:
    given = _with_defaults(defaults, case.given)
    answer: Mapping[str, Any]
    try:
        if case.kind == "decide":
            answer = decision_json(decide(compiled, parse_decision_request(given)))
        elif case.kind == "entitlements":
            answer = entitlements_json(entitlements(compiled, parse_caseload_request(given)))
        else:
            answer = breaches_json(breaches(compiled, parse_caseload_request(given)))
    except PolicyError as exc:
        return CaseResult(case, (f"the request was refused: {exc}",))
    return CaseResult(case, tuple(_failures(case.expect, answer)))


def _with_defaults(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    # YAML reads dates as dates; the request format takes ISO strings.
    parsed: dict[str, Any] = json.loads(json.dumps(merged, default=str))
    return parsed


def _failures(expect: dict[str, Any], answer: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for key, want in expect.items():
        if key == "blocking":
            got = sorted(r["rule"] for r in answer["reasons"] if r["effect"] != "allow")
            if got != sorted(want):
                out.append(f"blocking rules: expected {sorted(want)}, got {got}")
        elif key == "conditions_include":
            for phrase in want:
                if not any(phrase.lower() in c.lower() for c in answer["conditions"]):
                    out.append(
                        f"no condition mentions {phrase!r}; conditions: {answer['conditions']}"
                    )
        elif key == "rules":
            got = sorted(b["rule"] for b in answer["breaches"])
            if got != sorted(want):
                out.append(f"breached rules: expected {sorted(want)}, got {got}")
        elif key == "work_types":
            out += _work_type_failures(want, answer["work_types"])
        else:
            out += _subset_failures(key, want, answer.get(key, _MISSING))
    return out


_MISSING = object()


def _subset_failures(path: str, want: Any, got: Any) -> list[str]:
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [
            f
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for f in _subset_failures(f"{path}[{i}]", w, g)
        ]
    if isinstance(want, dict) and isinstance(got, dict):
        return [
            f
            for k, v in want.items()
            for f in _subset_failures(f"{path}.{k}", v, got.get(k, _MISSING))
        ]
    want_value = want.isoformat() if hasattr(want, "isoformat") else want
    if got is _MISSING:
        return [f"{path}: expected {want_value!r}, but the answer has no such field"]
    return [] if got == want_value else [f"{path}: expected {want_value!r}, got {got!r}"]


def _work_type_failures(want: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for expected in want:
        flags = sorted(expected.get("flags", []))
        match = [
            r
            for r in rows
            if r["work_type"] == expected["work_type"] and sorted(r["flags"]) == flags
        ]
        if not match:
            out.append(f"no entitlement row for {expected['work_type']} with flags {flags}")
            continue
        for key, value in expected.items():
            if key not in ("work_type", "flags"):
                out += _subset_failures(
                    f"{expected['work_type']}.{key}", value, match[0].get(key, _MISSING)
                )
    return out
