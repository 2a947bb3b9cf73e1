"""Errors the use cases raise on purpose, with every message in one place.

Adapters map the families to answers: `NotFound` → 404, `Conflict` → 409,
`NotPermitted` → 403, `StorageError` → 503 (or a chat reply), and the CLI to exit 2 with
the message. Bad input is `policy.InputError` (field and message) in every layer.
Messages carry references and ids, never personal data from a case.
"""

from __future__ import annotations

from typing import ClassVar


class CaseloadError(Exception):
    """Base of the product's deliberate errors; `template` is filled from keyword fields."""

    template: ClassVar[str] = "{detail}"

    def __init__(self, **fields: object) -> None:
        self.fields = fields
        super().__init__(self.template.format(**fields))


class NotFound(CaseloadError):
    pass


class Conflict(CaseloadError):
    pass


class NotPermitted(CaseloadError):
    pass


class StorageError(CaseloadError):
    """The database could not do what was asked; nothing was changed."""


class Busy(StorageError):
    template = "the database is busy; nothing was changed, try again"


class Unreachable(StorageError):
    template = "cannot reach the database ({detail})"


class SchemaMissing(StorageError):
    template = "the database is not set up ({detail}); run `caseload-bot db upgrade`"


class UnknownOrganisation(NotFound):
    template = "organisation {org!r} does not exist; create it with `caseload-bot org create`"


class UnknownPerson(NotFound):
    template = "organisation {org!r} has no worker {ref!r}"


class UnknownCase(NotFound):
    template = "organisation {org!r} has no case {ref!r}"


class UnknownToken(NotFound):
    template = "organisation {org!r} has no token {token_id}"


class NoAuditRows(NotFound):
    template = "organisation {org!r} has no audit rows; run `caseload-bot audit verify`"


class OrganisationExists(Conflict):
    template = "organisation {org!r} already exists"


class CaseClosed(Conflict):
    template = "case {ref!r} was closed on {closed_on}"


class AlreadyAllocated(Conflict):
    template = "{worker!r} already holds case {ref!r} as {role}"


class ApproverLacksRole(NotPermitted):
    template = "{approver!r} does not hold the role {role!r} they approved the override as"


class NotYetKnown(Conflict):
    """An event that refers to something its own event has not brought yet.

    Refused without a change; the sender's retry delivers it once the missing event has.
    """

    template = "{what} {ref!r} is not known yet; send {needs} first (this event will be accepted on redelivery)"
