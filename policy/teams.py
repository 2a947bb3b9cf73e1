"""How many NQSWs a team may have in their ASYE year at once, where the policy says."""

from __future__ import annotations

from policy.schema import PolicyFile, TeamLimit


def team_limit(policy: PolicyFile, team_kind: str) -> TeamLimit | None:
    """The limit for a team of this kind: one naming the kind wins over a general one, the
    smaller among equals; None when the policy sets none."""
    named = [t for t in policy.team_limits if team_kind in t.team_kinds]
    general = [t for t in policy.team_limits if not t.team_kinds]
    return min(named or general, key=lambda t: t.max_nqsws, default=None)
