"""The policy engine: pure functions from a council's rules and a caseload to a decision.

Nothing here does I/O beyond reading the presets shipped inside this package, and nothing
here knows about chat platforms, HTTP or databases.
"""

from policy.engine import (
    AllowedFrom,
    Breach,
    CaseloadFigures,
    CompiledPolicy,
    Decision,
    Entitlement,
    Entitlements,
    Reason,
    breaches,
    compile_policy,
    decide,
    entitlements,
)
from policy.errors import InputError, PolicyError, PolicyFileError, UnknownPolicyError
from policy.loader import lint_warnings, parse_policy
from policy.presets import load_preset, preset_ids, preset_text
from policy.requests import (
    Case,
    CaseloadRequest,
    DecisionRequest,
    Override,
    Worker,
    parse_caseload_request,
    parse_decision_request,
)
from policy.schema import Outcome, PolicyFile, Role, StaffRole

__all__ = [
    "AllowedFrom",
    "Breach",
    "Case",
    "CaseloadFigures",
    "CaseloadRequest",
    "CompiledPolicy",
    "Decision",
    "DecisionRequest",
    "Entitlement",
    "Entitlements",
    "InputError",
    "Outcome",
    "Override",
    "PolicyError",
    "PolicyFile",
    "PolicyFileError",
    "Reason",
    "Role",
    "StaffRole",
    "UnknownPolicyError",
    "Worker",
    "breaches",
    "compile_policy",
    "decide",
    "entitlements",
    "lint_warnings",
    "load_preset",
    "parse_caseload_request",
    "parse_decision_request",
    "parse_policy",
    "preset_ids",
    "preset_text",
]
