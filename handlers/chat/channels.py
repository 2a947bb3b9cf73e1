"""Which channel a team's alerts go to: `link this channel to team TEAM_REF`, said in the
channel by one of the team's managers or an admin. Audited as `channel_linked`."""

from __future__ import annotations

import datetime as dt

from handlers import audit
from handlers.chat import wording as w
from handlers.chat.commands import Asker, LinkChannel
from handlers.chat.replies import Reply, Tone
from handlers.errors import (
    NotInAChannel,
    NotInYourScope,
    NotRegistered,
    NotYours,
    UnknownTeam,
)
from handlers.ports import PersonRecord, Transactions, UnitOfWork
from policy import StaffRole

WHAT = "Linking a channel to a team's alerts"
LINKERS = (StaffRole.TEAM_MANAGER, StaffRole.ADMIN)
"""A team manager links their own team; an admin any team of the organisation."""


async def link_channel(
    tx: Transactions, asker: Asker, command: LinkChannel, at: dt.datetime
) -> Reply:
    if command.channel is None:
        raise NotInAChannel(team=command.team_ref)
    channel = command.channel

    async def once() -> Reply:
        async with tx.write() as uow:
            person = await _asker(uow, asker)
            team = await uow.teams.get(person.org_id, command.team_ref)
            if team is None:
                raise UnknownTeam(ref=command.team_ref)
            if StaffRole.ADMIN not in person.roles:
                if StaffRole.TEAM_MANAGER not in person.roles:
                    raise NotYours(what=WHAT, roles=w.roles(LINKERS), yours=w.roles(person.roles))
                if person.team_id != team.id:
                    raise NotInYourScope(
                        what=WHAT, worker=team.name, scope="its own team managers or an admin"
                    )
            if await uow.channels.link_team(team.id, asker.platform, channel):
                record = audit.ChannelLinked(
                    team=team.ref, platform=asker.platform, channel=channel
                )
                await uow.audit.append(person.org_id, record, f"person:{person.ref}", at)
        return Reply(
            text=f"Linked: this channel gets the alerts of {team.name} ({team.ref}).",
            tone=Tone.GOOD,
            private=False,
        )

    return await tx.retry(once)


async def _asker(uow: UnitOfWork, asker: Asker) -> PersonRecord:
    if asker.platform == "slack":
        person = await uow.directory.slack_person(asker.tenant, asker.user_id)
    else:
        person = await uow.directory.teams_person(asker.tenant, asker.user_id)
    if person is None:
        raise NotRegistered()
    return person
