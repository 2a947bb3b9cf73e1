"""Who is told, and where, from the stored teams, roles and chat identities: a breach goes
to the NQSW's team's managers' channel, to their ASYE lead and assessor, and privately to
the NQSW; a ladder step to the people holding the roles it names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from handlers.alerts.body import encode
from handlers.alerts.messenger import Destination
from handlers.chat.replies import Reply
from handlers.ports import NewMessage, PersonRecord, Platform, TeamRecord, UnitOfWork
from policy import StaffRole

TEAM_ROLES = frozenset(
    {
        StaffRole.TEAM_MANAGER,
        StaffRole.ADVANCED_PRACTITIONER,
        StaffRole.SOCIAL_WORKER,
        StaffRole.NQSW,
    }
)
"""Roles held within a team: a ladder naming one means the NQSW's own team's holders.
Every other role (ASYE lead, principal social worker, service manager, head of service,
admin) is the organisation's."""


async def team_channels(uow: UnitOfWork, team: TeamRecord | None) -> list[Destination]:
    """The team's linked channels (Slack, Teams, the try-out page's: any of them). A Teams channel the bot was never
    installed in is still queued: it fails at delivery, and the admins are told."""
    if team is None:
        return []
    linked: tuple[tuple[Platform, str | None], ...] = (
        ("slack", team.slack_channel_id),
        ("teams", team.teams_channel_id),
        ("web", team.web_channel_id),
    )
    out: list[Destination] = []
    for platform, channel in linked:
        if channel:
            known = await uow.channels.find(platform, channel)
            out.append(Destination(platform, known.tenant if known else "", "channel", channel))
    return out


async def holders(
    uow: UnitOfWork, nqsw: PersonRecord, roles: Iterable[StaffRole]
) -> list[PersonRecord]:
    """The people holding `roles` for this NQSW: their team's for team roles (and their line
    manager for `team_manager`), their assessor for `assessor`, the organisation's for the
    rest. Never the NQSW themselves; each person once."""
    found: dict[int, PersonRecord] = {}
    for role in roles:
        if role in TEAM_ROLES:
            members = () if nqsw.team_id is None else await uow.people.in_team(nqsw.team_id)
            found.update((p.id, p) for p in members if role in p.roles)
            if role is StaffRole.TEAM_MANAGER and nqsw.manager_id is not None:
                manager = await uow.people.get_by_id(nqsw.manager_id)
                if manager is not None:
                    found[manager.id] = manager
        elif role is StaffRole.ASSESSOR:
            assessor_id = await uow.people.assessor_of(nqsw.id)
            assessor = None if assessor_id is None else await uow.people.get_by_id(assessor_id)
            if assessor is not None:
                found[assessor.id] = assessor
        else:
            found.update((p.id, p) for p in await uow.people.with_role(nqsw.org_id, role))
    found.pop(nqsw.id, None)
    return sorted(found.values(), key=lambda p: p.id)


async def privately(uow: UnitOfWork, people: Sequence[PersonRecord]) -> list[Destination]:
    """Every chat identity of these people (someone on Slack and Teams is told on both)."""
    identities = await uow.directory.identities(p.id for p in people)
    return [Destination(i.platform, i.tenant, "person", i.user_id) for i in identities]


async def channels_of(
    uow: UnitOfWork, people: Sequence[PersonRecord], besides: Sequence[Destination]
) -> list[Destination]:
    """The channels of these people's own teams, except those already in `besides`."""
    seen = {(d.platform, d.id) for d in besides}
    out: list[Destination] = []
    for team_id in sorted({p.team_id for p in people if p.team_id is not None}):
        for d in await team_channels(uow, await uow.teams.get_by_id(team_id)):
            if (d.platform, d.id) not in seen:
                seen.add((d.platform, d.id))
                out.append(d)
    return out


async def to_people(
    uow: UnitOfWork,
    people: list[PersonRecord],
    key: str,
    topic: str,
    body: Reply,
    due: dt.datetime,
    *,
    breach_id: int | None = None,
) -> list[NewMessage]:
    """One message to each of these people privately, keyed `key` per destination."""
    unique = list({p.id: p for p in people}.values())
    return addressed(await privately(uow, unique), key, topic, body, due, breach_id=breach_id)


def addressed(
    places: Iterable[Destination],
    key: str,
    topic: str,
    body: Reply,
    due: dt.datetime,
    *,
    breach_id: int | None = None,
) -> list[NewMessage]:
    """The same message to each place, keyed `key` per destination (so that queueing it
    again, from a redelivered event or a second replica, adds nothing)."""
    text = encode(body)
    return [
        NewMessage(
            key=f"{key}:{d.platform}:{d.id}",
            topic=topic,
            platform=d.platform,
            tenant=d.tenant,
            kind=d.kind,
            target=d.id,
            body=text,
            due_at=due,
            breach_id=breach_id,
        )
        for d in places
    ]
