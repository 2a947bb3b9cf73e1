"""How the bot words dates, months, figures and work types, in one place: plain British
English, dates as `Mon 26 Oct 2026`, months of practice as "month 7"."""

from __future__ import annotations

import datetime as dt
import re

from handlers.chat.replies import Verdict
from policy import AllowedFrom, CompiledPolicy, Outcome, Role, StaffRole

VERDICTS = {
    Outcome.ALLOW: Verdict.ALLOWED,
    Outcome.CO_WORK: Verdict.CO_WORK,
    Outcome.DENY: Verdict.NOT_ALLOWED,
}


def day(d: dt.date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def month(months_of_practice: float) -> str:
    """The month under way: 6.4 months of practice is month 7."""
    return f"month {int(months_of_practice) + 1}"


def number(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:.1f}"


def role(r: Role) -> str:
    return "lead" if r is Role.LEAD else "co-worker"


ROLE_NAMES = {StaffRole.NQSW: "NQSW", StaffRole.ASYE_LEAD: "ASYE lead"}


def staff_role(r: StaffRole) -> str:
    return ROLE_NAMES.get(r, r.value.replace("_", " "))


def roles(rs: tuple[StaffRole, ...] | frozenset[StaffRole]) -> str:
    names = [staff_role(r) for r in StaffRole if r in rs]
    if not names:
        return "no role"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def with_article(text: str) -> str:
    return ("an " if text[:1] in "aeiouAEIU" else "a ") + text


def name_of(compiled: CompiledPolicy, key: str) -> str:
    """A work type, flag or agreement as a phrase inside a sentence."""
    name = compiled.names.get(key, key.replace("_", " "))
    if len(name) > 1 and name[1].isupper():
        return name
    return name[:1].lower() + name[1:]


def work(
    compiled: CompiledPolicy, work_type: str, flags: tuple[str, ...] | frozenset[str] = ()
) -> str:
    shown = name_of(compiled, work_type)
    if flags:
        shown += " (" + ", ".join(name_of(compiled, f) for f in sorted(flags)) + ")"
    return shown


_REVIEW = re.compile(r"^month-(\d+) review passed$")


def allowed_from(a: AllowedFrom | None) -> str:
    """What must happen before something refused becomes possible, read after "after"."""
    if a is None:
        return "the ASYE: not during it under this policy"
    parts = [] if a.practice_months is None else [f"month {number(a.practice_months)} of practice"]
    for milestone in a.milestones:
        review = _REVIEW.match(milestone)
        if review:
            parts.append(f"the month {review.group(1)} review")
        elif milestone.endswith(" recorded"):
            parts.append(with_article(milestone.removesuffix(" recorded")))
        else:
            parts.append(milestone)
    if a.date is None:
        return " and ".join(parts) or "a date that cannot be known yet"
    if not parts:
        return day(a.date)
    return f"{' and '.join(parts)} (due {day(a.date)})"


def children(before: int, after: int, cap: float | None) -> str:
    shown = f"{before} → {after}" if before != after else str(after)
    if cap is None:
        return f"{shown} {'child' if after == 1 else 'children'}"
    return f"{shown} children of {number(cap)}"


def points(before: float, after: float, cap: float | None) -> str:
    shown = f"{number(before)} → {number(after)}" if before != after else number(after)
    return f"{shown} points" + ("" if cap is None else f" of {number(cap)}")


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"
