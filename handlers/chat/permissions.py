"""Who may ask what: one table of role × command, and how near the person asked about
must be. Anyone registered may ask about themselves; nobody learns anything of someone
outside what their role covers."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from policy import StaffRole


class Ask(StrEnum):
    CHECK = "checking an allocation"
    WHO_CAN_TAKE = "finding who can take a case"
    RECORD = "recording an allocation"
    EXCEPTION = "approving an exception"
    CASELOAD_OF = "seeing someone's caseload"
    TEAM_CASELOAD = "seeing a team's caseload"
    LINK_CHANNEL = "linking a channel to a team's alerts"
    ACKNOWLEDGE = "acknowledging a breach"
    RESOLVE = "resolving a breach"
    SUPERVISION = "recording a supervision"
    REPORT = "seeing a caseload report"
    EQUALITY = "seeing the equality view"


class Reach(IntEnum):
    """How near the person asked about is to the asker; a wider reach covers the nearer."""

    SELF = 0
    ASSESSED = 1
    """The asker is their ASYE assessor."""
    TEAM = 2
    """Same team, or the asker is their line manager."""
    ORG = 3


_ALLOCATING = {
    StaffRole.TEAM_MANAGER: Reach.TEAM,
    StaffRole.ADVANCED_PRACTITIONER: Reach.TEAM,
    StaffRole.ASYE_LEAD: Reach.ORG,
    StaffRole.ADMIN: Reach.ORG,
}

TABLE: dict[Ask, dict[StaffRole, Reach]] = {
    Ask.CHECK: _ALLOCATING,
    Ask.WHO_CAN_TAKE: _ALLOCATING,
    Ask.RECORD: _ALLOCATING,
    Ask.EXCEPTION: _ALLOCATING,
    Ask.CASELOAD_OF: {
        StaffRole.TEAM_MANAGER: Reach.TEAM,
        StaffRole.ASSESSOR: Reach.ASSESSED,
        StaffRole.ASYE_LEAD: Reach.ORG,
        StaffRole.PRINCIPAL_SOCIAL_WORKER: Reach.ORG,
    },
    Ask.TEAM_CASELOAD: {
        StaffRole.TEAM_MANAGER: Reach.TEAM,
        StaffRole.SERVICE_MANAGER: Reach.TEAM,
        StaffRole.HEAD_OF_SERVICE: Reach.TEAM,
    },
    Ask.LINK_CHANNEL: {StaffRole.TEAM_MANAGER: Reach.TEAM, StaffRole.ADMIN: Reach.ORG},
    Ask.ACKNOWLEDGE: {
        StaffRole.TEAM_MANAGER: Reach.TEAM,
        StaffRole.ASSESSOR: Reach.ASSESSED,
        StaffRole.ASYE_LEAD: Reach.ORG,
        StaffRole.PRINCIPAL_SOCIAL_WORKER: Reach.ORG,
        StaffRole.SERVICE_MANAGER: Reach.ORG,
        StaffRole.HEAD_OF_SERVICE: Reach.ORG,
    },
    Ask.RESOLVE: {
        StaffRole.TEAM_MANAGER: Reach.TEAM,
        StaffRole.ASYE_LEAD: Reach.ORG,
        StaffRole.PRINCIPAL_SOCIAL_WORKER: Reach.ORG,
        StaffRole.SERVICE_MANAGER: Reach.ORG,
        StaffRole.HEAD_OF_SERVICE: Reach.ORG,
    },
    Ask.SUPERVISION: {
        StaffRole.TEAM_MANAGER: Reach.TEAM,
        StaffRole.ADVANCED_PRACTITIONER: Reach.TEAM,
        StaffRole.ASSESSOR: Reach.ASSESSED,
        StaffRole.ASYE_LEAD: Reach.ORG,
    },
    Ask.REPORT: {
        StaffRole.TEAM_MANAGER: Reach.TEAM,
        StaffRole.SERVICE_MANAGER: Reach.TEAM,
        StaffRole.ASYE_LEAD: Reach.ORG,
        StaffRole.PRINCIPAL_SOCIAL_WORKER: Reach.ORG,
        StaffRole.HEAD_OF_SERVICE: Reach.ORG,
    },
    Ask.EQUALITY: {StaffRole.PRINCIPAL_SOCIAL_WORKER: Reach.ORG},
}
"""For a team (its caseload, its channel) the reach is TEAM for its own members, else ORG.
Seeing one's own caseload, recording one's own supervision, help and the home tab need
only to be registered. A breach is acted on with the reach of the NQSW it is about. An
exception is also limited by the policy: only the roles its rules name may approve it.
The equality view (measures by cohort) is the principal social worker's alone: cohort
attributes are special-category data, shown to nobody else even in aggregate."""


def reach(ask: Ask, roles: frozenset[StaffRole]) -> Reach | None:
    """The widest reach any of the asker's roles gives for this ask; None: not theirs."""
    found = [TABLE[ask][r] for r in roles if r in TABLE[ask]]
    return max(found) if found else None


def may(ask: Ask, roles: frozenset[StaffRole], nearness: Reach) -> bool:
    """Asking about oneself is always allowed when asking about others is at all."""
    widest = reach(ask, roles)
    if ask in (Ask.CASELOAD_OF, Ask.SUPERVISION) and nearness is Reach.SELF:
        return True
    return widest is not None and nearness <= widest


def roles_for(ask: Ask) -> tuple[StaffRole, ...]:
    return tuple(r for r in StaffRole if r in TABLE[ask])
