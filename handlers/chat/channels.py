"""Which channel a team's alerts go to: `link this channel to team TEAM_REF`, said in the
channel by one of the team's managers or an admin. Audited as `channel_linked`."""

from __future__ import annotations

import datetime as dt

from handlers import audit
from handlers.chat import wording as w
from handlers.chat.asker import whoami
from handlers.chat.commands import Asker, LinkChannel
from handlers.chat.permissions import Ask, Reach, may, roles_for
from handlers.chat.replies import Reply, Tone
from handlers.errors import NotInAChannel, NotInYourScope, NotYours, UnknownTeam
from handlers.ports import Transactions

WHAT = Ask.LINK_CHANNEL.value[:1].upper() + Ask.LINK_CHANNEL.value[1:]


async def link_channel(
    tx: Transactions, asker: Asker, command: LinkChannel, at: dt.datetime
) -> Reply:
    if command.channel is None:
        raise NotInAChannel(team=command.team_ref)
    channel = command.channel

    async def once() -> Reply:
        async with tx.write() as uow:
            who = await whoami(uow, asker)
            person = who.person
            team = await uow.teams.get(person.org_id, command.team_ref)
            if team is None:
                raise UnknownTeam(ref=command.team_ref)
            own = person.team_id == team.id
            if not may(Ask.LINK_CHANNEL, person.roles, Reach.TEAM if own else Reach.ORG):
                allowed = roles_for(Ask.LINK_CHANNEL)
                if not person.roles & set(allowed):
                    raise NotYours(what=WHAT, roles=w.roles(allowed), yours=w.roles(person.roles))
                raise NotInYourScope(
                    what=WHAT, worker=team.name, scope="its own team managers or an admin"
                )
            if await uow.channels.link_team(team.id, asker.platform, channel):
                record = audit.ChannelLinked(
                    team=team.ref, platform=asker.platform, channel=channel
                )
                await uow.audit.append(person.org_id, record, who.actor, at)
        return Reply(
            text=f"Linked: this channel gets the alerts of {team.name} ({team.ref}).",
            tone=Tone.GOOD,
            private=False,
        )

    return await tx.retry(once)
