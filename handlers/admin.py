"""What an administrator does: organisations, API tokens, webhook secrets, and the checks
of the audit trail. The command line calls these; nothing here knows it is a terminal.

Secrets are made here, where their shape is known: storage keeps a token's SHA-256 only,
and shows nobody a token or a secret again after it is created.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from handlers import audit
from handlers.errors import Busy, NoAuditRows, UnknownOrganisation, UnknownToken
from handlers.events import MAX_COHORT_ATTRIBUTES
from handlers.ports import (
    AuditRow,
    ChainProblem,
    Checkpoint,
    OrgRecord,
    TokenRecord,
    Transactions,
    UnitOfWork,
)
from policy import InputError, PolicyFile

TOKEN_PREFIX = "clb_"
SECRET_PREFIX = "whsec_"
PREVIOUS_SECRET_VALID = dt.timedelta(hours=24)
"""How long a replaced webhook secret still verifies: the case system's own change of
secret rarely happens at the same minute as ours."""
_COHORT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
"""As `handlers.events.CohortKey`: the keys `worker.upserted` may then carry."""
LAST_USED_PRECISION = dt.timedelta(minutes=15)
"""A token's last use is written at most this often: enough to tell an unused token from
one in use, without a write on every request."""


async def create_organisation(
    tx: Transactions,
    org_id: str,
    name: str,
    policy: PolicyFile,
    policy_source: str,
    policy_yaml: str,
    actor: str,
    at: dt.datetime,
) -> OrgRecord:
    """Raises `OrganisationExists`."""
    async with tx.write() as uow:
        org = await uow.orgs.create(org_id, name, policy, policy_source, policy_yaml)
        record = audit.OrganisationCreated(name=name, policy=policy.id, version=policy.version)
        await uow.audit.append(org.id, record, actor, at)
    return org


# --- API tokens --------------------------------------------------------------------------


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    tx: Transactions, org_id: str, label: str, actor: str, at: dt.datetime
) -> tuple[str, TokenRecord]:
    """A new token, returned once, and what is kept of it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with tx.write() as uow:
        await _org(uow, org_id)
        record = await uow.tokens.create(org_id, token_digest(token), label, at)
        await uow.audit.append(
            org_id, audit.TokenCreated(token_id=record.id, label=label), actor, at
        )
    return token, record


async def list_tokens(tx: Transactions, org_id: str) -> tuple[TokenRecord, ...]:
    async with tx.read() as uow:
        await _org(uow, org_id)
        return await uow.tokens.of_org(org_id)


async def revoke_token(
    tx: Transactions, org_id: str, token_id: int, actor: str, at: dt.datetime
) -> TokenRecord:
    """Revoke at once (the next request with it is refused); revoking again changes nothing."""
    async with tx.write() as uow:
        await _org(uow, org_id)
        # Whether this call revoked it, asked before: an earlier revocation can carry the
        # same time as this one.
        live = any(
            t.id == token_id and t.revoked_at is None for t in await uow.tokens.of_org(org_id)
        )
        record = await uow.tokens.revoke(org_id, token_id, at)
        if record is None:
            raise UnknownToken(org=org_id, token_id=token_id)
        if live:
            revoked = audit.TokenRevoked(token_id=record.id, label=record.label)
            await uow.audit.append(org_id, revoked, actor, at)
    return record


async def authenticate(tx: Transactions, token: str, at: dt.datetime) -> TokenRecord | None:
    """The live token presented, its use noted; None for anything else."""
    if not token.isascii() or not token.startswith(TOKEN_PREFIX):
        return None
    async with tx.read() as uow:
        found = await uow.tokens.find(token_digest(token))
    if found is not None and (
        found.last_used_at is None or at - found.last_used_at >= LAST_USED_PRECISION
    ):
        try:
            async with tx.write() as uow:
                await uow.tokens.touch(found.id, at)
        except Busy:
            pass  # the last use is a convenience for administrators; the request goes on
    return found


# --- webhook secrets ---------------------------------------------------------------------


async def set_webhook_secret(
    tx: Transactions, org_id: str, actor: str, at: dt.datetime
) -> tuple[str, dt.datetime | None]:
    """A new secret for the organisation's case events, returned once, and until when the
    secret it replaces stays valid (None when it had none of its own).

    From now on its events are accepted only with its own secrets, never with the
    deployment's CASE_EVENTS_SECRET.
    """
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    async with tx.write() as uow:
        await _org(uow, org_id)
        had_own = bool(await uow.webhook_secrets.valid(org_id, at))
        until = at + PREVIOUS_SECRET_VALID if had_own else None
        secret_id = await uow.webhook_secrets.add(org_id, secret, at, until or at)
        record = audit.WebhookSecretSet(secret_id=secret_id, previous_valid_until=until)
        await uow.audit.append(org_id, record, actor, at)
    return secret, until


# --- the equality view -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EqualityViewChange:
    attributes: tuple[str, ...] | None
    """What the organisation records now; None: the view is off."""
    values_erased: int
    changed: bool


async def set_equality_view(
    tx: Transactions,
    org_id: str,
    attributes: Sequence[str] | None,
    actor: str,
    at: dt.datetime,
) -> EqualityViewChange:
    """Record these cohort attributes, or switch the view off (None). Every stored value of
    an attribute no longer recorded (all of them, off) is erased in the same transaction:
    special-category data is kept only while the organisation has chosen to keep it.
    Audited with the attribute keys and the count erased, never a value."""
    keys = None if attributes is None else tuple(sorted(set(attributes)))
    if keys is not None:
        if not keys:
            raise InputError("attributes", "name at least one attribute, or switch the view off")
        if len(keys) > MAX_COHORT_ATTRIBUTES:
            raise InputError("attributes", f"at most {MAX_COHORT_ATTRIBUTES} attributes")
        for key in keys:
            if not _COHORT_KEY.match(key):
                raise InputError(
                    "attributes",
                    f"{key!r} is not an attribute key: lower-case letters, digits and _, at"
                    " most 32, starting with a letter (e.g. ethnicity, sex, route)",
                )
    async with tx.write() as uow:
        await _org(uow, org_id)
        before = await uow.cohorts.attributes(org_id)
        erased = await uow.cohorts.set_attributes(org_id, keys, at)
        changed = before != keys or erased > 0
        if changed:
            record = audit.EqualityViewSet(attributes=keys or (), values_erased=erased)
            await uow.audit.append(org_id, record, actor, at)
    return EqualityViewChange(keys, erased, changed)


# --- the audit trail ---------------------------------------------------------------------


CHECKPOINT: TypeAdapter[Checkpoint] = TypeAdapter(Checkpoint)


def checkpoint_line(point: Checkpoint) -> str:
    """A checkpoint as the one JSON line `audit verify --checkpoint` reads back."""
    return json.dumps(CHECKPOINT.dump_python(point, mode="json"), separators=(",", ":"))


async def checkpoint(tx: Transactions, org_id: str) -> Checkpoint:
    """The head of the organisation's chain, to be kept somewhere this database is not."""
    async with tx.read() as uow:
        await _org(uow, org_id)
        head = await uow.audit.head(org_id)
    if head is None:
        raise NoAuditRows(org=org_id)
    return head


async def verify_audit(
    tx: Transactions, checkpoints: Sequence[Checkpoint] = ()
) -> tuple[ChainProblem, ...]:
    async with tx.read() as uow:
        return await uow.audit.verify(checkpoints)


async def audit_rows(
    tx: Transactions, org_id: str, start: dt.datetime, end: dt.datetime
) -> AsyncIterator[AuditRow]:
    """The organisation's rows with `start <= at < end`, for an inspection."""
    async with tx.read() as uow:
        await _org(uow, org_id)
        async for row in uow.audit.export(org_id, start, end):
            yield row


async def _org(uow: UnitOfWork, org_id: str) -> OrgRecord:
    org = await uow.orgs.get(org_id)
    if org is None:
        raise UnknownOrganisation(org=org_id)
    return org
