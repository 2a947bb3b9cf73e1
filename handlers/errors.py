"""Errors the use cases raise on purpose, with every message in one place.

Adapters map the families to answers: `NotFound` → 404, `Conflict` → 409,
`NotPermitted` → 403, `TooLarge` → 413, `StorageError` → 503 (or a chat reply), and the
CLI to exit 2 with the message. Bad input is `policy.InputError` (field and message) in
every layer. Messages carry references and ids, never personal data from a case.
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


class TooLarge(CaseloadError):
    """More than a request may carry (413): the sender splits it."""


class TooManyEvents(TooLarge):
    template = "a batch holds at most {limit} events: send the rest in another request"


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


# --- chat ----------------------------------------------------------------------------


class NotRegistered(NotPermitted):
    template = "You are not registered with the caseload bot: ask your ASYE lead"


class NotYours(NotPermitted):
    template = "{what} is for {roles}; you are registered as {yours}"


class NotInYourScope(NotPermitted):
    template = "{what} ({worker}) is for {scope}"


class UnknownChatPerson(NotFound):
    """Also the answer for someone of another organisation: they are unknown here."""

    template = "{who} is not registered with the caseload bot"


class CannotApprove(NotPermitted):
    template = "only {roles} can approve this exception; ask them to press Request exception"


class Unclear(CaseloadError):
    """A chat command that cannot be read; the reply adds the command's usage."""


class CommandTooLong(Unclear):
    template = "that message is {length} characters long; a command is at most {limit}"


class MissingCase(Unclear):
    template = "say which case, e.g. `/allocate C-1042 to @person as lead`"


class BadCaseRef(Unclear):
    template = "`{ref}` is not a case reference (letters, digits and - _ . / : only, at most 64 characters)"


class MissingPerson(Unclear):
    template = "say who after `to`, e.g. `/allocate {case} to @person`"


class BadPerson(Unclear):
    template = "`{word}` is not a person: mention them with @ so that chat links their name, or give their worker reference"


class BadRole(Unclear):
    template = "after `as` say `lead` or `co-worker`, not `{word}`"


class BadChildren(Unclear):
    template = "`children` takes a whole number from 1 to 50, not `{word}`"


class MissingValue(Unclear):
    template = "`{word}` needs a value after it"


class UnknownWord(Unclear):
    template = "I did not understand `{word}`"


class NeedsWorkType(Unclear):
    template = (
        "case {ref} is not known to the caseload bot yet: add `type WORK_TYPE` (one of: {known})"
    )


class BadButton(Unclear):
    template = "that button's message is out of date or damaged; run the command again"


class NoTeam(NotFound):
    template = (
        "you are not in a team the caseload bot knows of; the case-management system sets your team"
    )


class NotOverridable(NotPermitted):
    template = (
        "no exception is possible: a rule that blocks this applies regardless of circumstances"
    )


class NoExceptionNeeded(Conflict):
    template = "no exception is needed: {worker} may take this as asked; use Record allocation"


# --- chat channels ------------------------------------------------------------------------


class BadLink(Unclear):
    template = (
        "to send a team's alerts to a channel, say `link this channel to team TEAM_REF` there"
    )


class NotInAChannel(Conflict):
    template = (
        "say `link this channel to team {team}` in the channel that should get the team's alerts,"
        " mentioning the bot"
    )


class UnknownTeam(NotFound):
    template = "your organisation has no team {ref}"


class EqualityViewOff(NotFound):
    template = (
        "this organisation ({org}) does not record cohort attributes, so there is no equality"
        " view; an administrator can switch it on with `caseload-bot org equality`"
    )


# --- breaches ------------------------------------------------------------------------------


class UnknownBreach(NotFound):
    """Also the answer for another organisation's breach: it is unknown here."""

    template = "there is no breach {breach} in your organisation"


class BreachAlreadyResolved(Conflict):
    template = "that breach was already resolved on {on}; nothing was changed"


class ReasonNeeded(CaseloadError):
    template = (
        "say why it is resolved, in {min} to {max} characters (case references only, no names)"
    )
