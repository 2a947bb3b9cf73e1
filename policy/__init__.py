"""The policy engine: pure functions from a council's rules and a caseload to a decision.

Nothing here does I/O beyond reading the presets shipped inside this package, and nothing
here knows about chat platforms, HTTP or databases.
"""

from policy.calendar import (
    CLOSES,
    LONDON,
    OPENS,
    add_working_days,
    after_wait,
    first_working_day_from,
    is_working_day,
    next_posting_time,
)
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
from policy.schedules import (
    ReviewDue,
    ReviewReminder,
    StepDue,
    SupervisionDue,
    ladder_due,
    month_date,
    programme_months,
    review_reminders,
    reviews_due,
    supervision_due,
)
from policy.schema import Outcome, PolicyFile, Role, StaffRole

__all__ = [
    "CLOSES",
    "LONDON",
    "OPENS",
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
    "ReviewDue",
    "ReviewReminder",
    "Role",
    "StaffRole",
    "StepDue",
    "SupervisionDue",
    "UnknownPolicyError",
    "Worker",
    "add_working_days",
    "after_wait",
    "breaches",
    "compile_policy",
    "decide",
    "entitlements",
    "first_working_day_from",
    "is_working_day",
    "ladder_due",
    "lint_warnings",
    "load_preset",
    "month_date",
    "next_posting_time",
    "parse_caseload_request",
    "parse_decision_request",
    "parse_policy",
    "preset_ids",
    "preset_text",
    "programme_months",
    "review_reminders",
    "reviews_due",
    "supervision_due",
]
