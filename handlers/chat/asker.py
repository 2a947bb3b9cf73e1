"""Who is asking: a chat identity found among the people the case system has linked."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.chat.commands import Asker
from handlers.errors import NotRegistered
from handlers.ports import OrgRecord, PersonRecord, UnitOfWork


@dataclass(frozen=True, slots=True)
class Who:
    """The asker, as registered."""

    org: OrgRecord
    person: PersonRecord

    @property
    def actor(self) -> str:
        return f"person:{self.person.ref}"


async def whoami(uow: UnitOfWork, asker: Asker) -> Who:
    person = await uow.directory.person(asker.platform, asker.tenant, asker.user_id)
    if person is None:
        raise NotRegistered()
    org = await uow.orgs.get(person.org_id)
    if org is None:  # a person belongs to an organisation: only a damaged row gets here
        raise NotRegistered()
    return Who(org, person)
