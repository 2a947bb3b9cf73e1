"""Who may ask what, for every role, every command and every distance to the person asked
about: the expected answers are written out here, not derived from the table under test."""

from __future__ import annotations

import itertools

import pytest

from handlers.chat.permissions import Ask, Reach, may
from policy import StaffRole as R

ALLOCATE_ASKS = (Ask.CHECK, Ask.WHO_CAN_TAKE, Ask.RECORD, Ask.EXCEPTION)

# The widest reach each role has per ask; a role missing has none.
EXPECTED: dict[Ask, dict[R, Reach]] = {
    **{
        ask: {
            R.TEAM_MANAGER: Reach.TEAM,
            R.ADVANCED_PRACTITIONER: Reach.TEAM,
            R.ASYE_LEAD: Reach.ORG,
            R.ADMIN: Reach.ORG,
        }
        for ask in ALLOCATE_ASKS
    },
    Ask.CASELOAD_OF: {
        R.TEAM_MANAGER: Reach.TEAM,
        R.ASSESSOR: Reach.ASSESSED,
        R.ASYE_LEAD: Reach.ORG,
        R.PRINCIPAL_SOCIAL_WORKER: Reach.ORG,
    },
    Ask.TEAM_CASELOAD: {
        R.TEAM_MANAGER: Reach.TEAM,
        R.SERVICE_MANAGER: Reach.TEAM,
        R.HEAD_OF_SERVICE: Reach.TEAM,
    },
    Ask.LINK_CHANNEL: {R.TEAM_MANAGER: Reach.TEAM, R.ADMIN: Reach.ORG},
    Ask.ACKNOWLEDGE: {
        R.TEAM_MANAGER: Reach.TEAM,
        R.ASSESSOR: Reach.ASSESSED,
        R.ASYE_LEAD: Reach.ORG,
        R.PRINCIPAL_SOCIAL_WORKER: Reach.ORG,
        R.SERVICE_MANAGER: Reach.ORG,
        R.HEAD_OF_SERVICE: Reach.ORG,
    },
    Ask.RESOLVE: {
        R.TEAM_MANAGER: Reach.TEAM,
        R.ASYE_LEAD: Reach.ORG,
        R.PRINCIPAL_SOCIAL_WORKER: Reach.ORG,
        R.SERVICE_MANAGER: Reach.ORG,
        R.HEAD_OF_SERVICE: Reach.ORG,
    },
    Ask.SUPERVISION: {
        R.TEAM_MANAGER: Reach.TEAM,
        R.ADVANCED_PRACTITIONER: Reach.TEAM,
        R.ASSESSOR: Reach.ASSESSED,
        R.ASYE_LEAD: Reach.ORG,
    },
    Ask.REPORT: {
        R.TEAM_MANAGER: Reach.TEAM,
        R.SERVICE_MANAGER: Reach.TEAM,
        R.ASYE_LEAD: Reach.ORG,
        R.PRINCIPAL_SOCIAL_WORKER: Reach.ORG,
        R.HEAD_OF_SERVICE: Reach.ORG,
    },
    Ask.EQUALITY: {R.PRINCIPAL_SOCIAL_WORKER: Reach.ORG},
}
ABOUT_ONESELF = (Ask.CASELOAD_OF, Ask.SUPERVISION)
"""What anyone registered may do about themselves: see their caseload, record a supervision."""


@pytest.mark.parametrize(
    ("ask", "role", "nearness"), list(itertools.product(Ask, R, Reach)), ids=str
)
def test_one_role(ask: Ask, role: R, nearness: Reach) -> None:
    widest = EXPECTED[ask].get(role)
    expected = (widest is not None and nearness <= widest) or (
        ask in ABOUT_ONESELF and nearness is Reach.SELF
    )
    assert may(ask, frozenset({role}), nearness) is expected


@pytest.mark.parametrize(("ask", "nearness"), list(itertools.product(Ask, Reach)), ids=str)
def test_several_roles_give_the_widest_reach_of_any(ask: Ask, nearness: Reach) -> None:
    for pair in itertools.combinations(R, 2):
        expected = any(may(ask, frozenset({r}), nearness) for r in pair)
        assert may(ask, frozenset(pair), nearness) is expected, pair


def test_nobody_without_a_role_may_ask_about_others() -> None:
    for ask, nearness in itertools.product(Ask, Reach):
        assert may(ask, frozenset(), nearness) is (ask in ABOUT_ONESELF and nearness is Reach.SELF)
