"""What an administrator does: organisations, API tokens, webhook secrets and checkpoints
of the audit trail, each with the audit rows it leaves."""

from __future__ import annotations

import datetime as dt

import pytest

from handlers import admin, audit
from handlers.case_events import OrgSecrets
from handlers.errors import NoAuditRows, OrganisationExists, UnknownOrganisation, UnknownToken
from handlers.ports import Checkpoint
from policy import parse_policy, preset_text
from tests.fakes import FakeTransactions
from tests.handlers.world import (
    CREATED,
    STOKE,
    T0,
    create_stoke,
    records,
    snapshot,
    stoke_policy,
)

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


# --- organisations -------------------------------------------------------------------------


async def test_an_organisation_is_created_with_its_first_audit_row(tx: FakeTransactions) -> None:
    await create_stoke(tx)
    org = tx.state.orgs[STOKE]
    assert (org.name, org.policy_id, org.policy_version) == ("Stoke", "stoke-childrens", "2024.09")
    assert preset_text("stoke-childrens")[1] == org.policy_yaml
    [row] = tx.state.audit[STOKE]
    assert (row.seq, row.kind, row.actor, row.at) == (1, "organisation_created", "cli", CREATED)
    assert records(tx.state) == [
        audit.OrganisationCreated(name="Stoke", policy="stoke-childrens", version="2024.09")
    ]


async def test_an_organisation_that_exists_is_not_created_again(tx: FakeTransactions) -> None:
    await create_stoke(tx)
    before = snapshot(tx)
    source, text = preset_text("dorset-childrens")
    with pytest.raises(OrganisationExists):
        await admin.create_organisation(
            tx, STOKE, "Again", parse_policy(text, source), source, text, "cli", T0
        )
    assert tx.state == before


# --- tokens --------------------------------------------------------------------------------


async def _token(tx: FakeTransactions, org: str = STOKE) -> tuple[str, int]:
    token, record = await admin.create_token(tx, org, "rota", "cli", CREATED)
    return token, record.id


async def test_a_token_lives_from_creation_to_revocation(tx: FakeTransactions) -> None:
    await create_stoke(tx)
    token, token_id = await _token(tx)
    assert token.startswith("clb_") and token not in repr(tx.state)  # only its digest is kept
    found = await admin.authenticate(tx, token, T0)
    assert found is not None and (found.id, found.org_id) == (token_id, STOKE)
    [listed] = await admin.list_tokens(tx, STOKE)
    assert (listed.label, listed.last_used_at, listed.revoked_at) == ("rota", T0, None)
    revoked = await admin.revoke_token(tx, STOKE, token_id, "cli", T0 + MINUTE)
    assert revoked.revoked_at == T0 + MINUTE
    assert await admin.authenticate(tx, token, T0 + 2 * MINUTE) is None
    assert [(r.kind, r.data()) for r in records(tx.state)[1:]] == [
        ("token_created", {"token_id": token_id, "label": "rota"}),
        ("token_revoked", {"token_id": token_id, "label": "rota"}),
    ]


AUTHENTICATE = [
    # (last used before, presented, asked at) -> authenticated, last use noted after
    pytest.param(None, "token", T0, True, T0, id="never used: accepted, its use noted"),
    pytest.param(
        T0 - 14 * MINUTE, "token", T0, True, T0 - 14 * MINUTE, id="used 14 min ago: not noted"
    ),
    pytest.param(T0 - 15 * MINUTE, "token", T0, True, T0, id="used 15 min ago: noted again"),
    pytest.param(None, "clb_unknown", T0, False, None, id="a token never issued is refused"),
    pytest.param(None, "not-ours", T0, False, None, id="a token without our prefix is refused"),
    pytest.param(None, "clb_é", T0, False, None, id="a token that is not ASCII is refused"),
]


@pytest.mark.parametrize(("used", "presented", "now", "accepted", "noted"), AUTHENTICATE)
async def test_authenticate(
    tx: FakeTransactions,
    used: dt.datetime | None,
    presented: str,
    now: dt.datetime,
    accepted: bool,
    noted: dt.datetime | None,
) -> None:
    await create_stoke(tx)
    token, _ = await _token(tx)
    if used is not None:
        await admin.authenticate(tx, token, used)
    found = await admin.authenticate(tx, token if presented == "token" else presented, now)
    assert (found is not None) == accepted
    [stored] = await admin.list_tokens(tx, STOKE)
    assert stored.last_used_at == noted


async def test_a_busy_database_does_not_refuse_a_live_token(tx: FakeTransactions) -> None:
    """Noting the last use is a convenience: the request goes on without it."""
    await create_stoke(tx)
    token, _ = await _token(tx)
    tx.busy = True
    assert await admin.authenticate(tx, token, T0) is not None
    tx.busy = False
    [stored] = await admin.list_tokens(tx, STOKE)
    assert stored.last_used_at is None


async def test_a_revoked_token_is_refused(tx: FakeTransactions) -> None:
    await create_stoke(tx)
    token, token_id = await _token(tx)
    await admin.revoke_token(tx, STOKE, token_id, "cli", T0)
    assert await admin.authenticate(tx, token, T0 + HOUR) is None


REVOKE = [
    # (organisation asked, which token, revoked already at) -> error, token_revoked rows
    pytest.param(STOKE, "own", None, None, 1, id="own token: revoked and audited"),
    pytest.param(STOKE, "own", T0 - HOUR, None, 1, id="revoked again: audited once"),
    pytest.param(STOKE, "own", T0, None, 1, id="revoked again at the same instant: audited once"),
    pytest.param(STOKE, "unknown", None, UnknownToken, 0, id="an id never issued"),
    pytest.param(STOKE, "other's", None, UnknownToken, 0, id="another organisation's token"),
    pytest.param(
        "nowhere", "own", None, UnknownOrganisation, 0, id="an organisation that does not exist"
    ),
]


@pytest.mark.parametrize(("org", "which", "earlier", "error", "audited"), REVOKE)
async def test_revoke_token(
    tx: FakeTransactions,
    org: str,
    which: str,
    earlier: dt.datetime | None,
    error: type[Exception] | None,
    audited: int,
) -> None:
    await create_stoke(tx)
    await create_stoke(tx, "other")
    _, own = await _token(tx)
    _, others = await _token(tx, "other")
    token_id = {"own": own, "other's": others, "unknown": 999}[which]
    if earlier is not None:
        await admin.revoke_token(tx, STOKE, own, "cli", earlier)
    before = snapshot(tx)
    if error is not None:
        with pytest.raises(error):
            await admin.revoke_token(tx, org, token_id, "cli", T0)
        assert tx.state == before
    else:
        record = await admin.revoke_token(tx, org, token_id, "cli", T0)
        assert record.revoked_at == (earlier or T0)
    revoked = [r for r in records(tx.state) if r.kind == "token_revoked"]
    assert len(revoked) == audited


# --- webhook secrets -----------------------------------------------------------------------

ONE = [T0]
TWO = [T0, T0 + HOUR]
THREE = [T0, T0 + HOUR, T0 + 2 * HOUR]

SECRETS = [
    # (secrets set at, asked at) -> which are valid, newest first
    pytest.param([], T0, [], id="none of its own"),
    pytest.param(ONE, T0 + 1000 * 24 * HOUR, [1], id="the first secret stays valid"),
    pytest.param(TWO, T0 + HOUR, [2, 1], id="rotated: both"),
    pytest.param(TWO, T0 + 25 * HOUR - MINUTE, [2, 1], id="the old one still, for 24 hours"),
    pytest.param(TWO, T0 + 25 * HOUR, [2], id="then the new one alone"),
    pytest.param(THREE, T0 + 2 * HOUR, [3, 2, 1], id="rotated twice in a day: all three"),
    pytest.param(THREE, T0 + 25 * HOUR, [3, 2], id="each old one for a day from its rotation"),
    pytest.param(THREE, T0 + 26 * HOUR, [3], id="then the newest alone"),
]


@pytest.mark.parametrize(("set_at", "asked_at", "valid"), SECRETS)
async def test_webhook_secrets_rotate_with_a_day_of_overlap(
    tx: FakeTransactions, set_at: list[dt.datetime], asked_at: dt.datetime, valid: list[int]
) -> None:
    await create_stoke(tx)
    await create_stoke(tx, "other")
    numbered: dict[str, int] = {}
    for n, at in enumerate(set_at, start=1):
        secret, until = await admin.set_webhook_secret(tx, STOKE, "cli", at)
        assert secret.startswith("whsec_") and secret not in numbered
        assert until == (None if n == 1 else at + 24 * HOUR)
        numbered[secret] = n
    secrets = OrgSecrets(tx)
    assert [numbered[s] for s in await secrets.get(STOKE, asked_at)] == valid
    assert await secrets.get("other", asked_at) == ()
    logged = [r for r in records(tx.state) if isinstance(r, audit.WebhookSecretSet)]
    assert [r.previous_valid_until for r in logged] == [
        None if n == 0 else at + 24 * HOUR for n, at in enumerate(set_at)
    ]
    assert len({r.secret_id for r in logged}) == len(set_at)


async def test_secrets_are_kept_a_few_seconds_and_read_afresh_when_asked(
    tx: FakeTransactions,
) -> None:
    await create_stoke(tx)
    secrets = OrgSecrets(tx)
    assert await secrets.get(STOKE, T0) == ()
    first, _ = await admin.set_webhook_secret(tx, STOKE, "cli", T0)
    almost = T0 + OrgSecrets.FRESH - dt.timedelta(microseconds=1)
    assert await secrets.get(STOKE, almost) == ()
    assert await secrets.get(STOKE, almost, fresh=True) == (first,)
    second, _ = await admin.set_webhook_secret(tx, STOKE, "cli", almost)
    assert await secrets.get(STOKE, almost) == (first,)
    later = almost + OrgSecrets.FRESH
    assert await secrets.get(STOKE, later) == (second, first)


async def test_only_so_many_organisations_secrets_are_kept(tx: FakeTransactions) -> None:
    """The `org` a request claims is read before its signature holds: made-up names must
    not grow what is kept without bound."""

    class FewKept(OrgSecrets):
        KEPT = 2

    await create_stoke(tx)
    secrets = FewKept(tx)
    assert await secrets.get(STOKE, T0) == ()
    first, _ = await admin.set_webhook_secret(tx, STOKE, "cli", T0)
    for made_up in ("made-up-1", "made-up-2"):
        assert await secrets.get(made_up, T0) == ()
    assert await secrets.get(STOKE, T0) == (first,)


async def test_setting_a_secret_for_an_organisation_that_does_not_exist(
    tx: FakeTransactions,
) -> None:
    with pytest.raises(UnknownOrganisation):
        await admin.set_webhook_secret(tx, "nowhere", "cli", T0)
    assert tx.state.secrets == []


# --- the audit trail -----------------------------------------------------------------------


async def test_a_checkpoint_is_the_head_of_the_chain_and_later_rows_keep_it(
    tx: FakeTransactions,
) -> None:
    await create_stoke(tx)
    await _token(tx)
    head = await admin.checkpoint(tx, STOKE)
    assert (head.org, head.seq, head.at) == (STOKE, 2, CREATED)
    assert head.hash == tx.state.audit[STOKE][-1].hash
    await _token(tx)
    assert await admin.verify_audit(tx, [head]) == ()
    forged = Checkpoint(STOKE, head.seq, "0" * 64, head.at)
    assert [(p.org_id, p.seq) for p in await admin.verify_audit(tx, [forged])] == [(STOKE, 2)]


@pytest.mark.parametrize(
    ("org", "error"),
    [
        pytest.param("nowhere", UnknownOrganisation, id="an organisation that does not exist"),
        pytest.param("bare", NoAuditRows, id="an organisation whose chain has no rows"),
    ],
)
async def test_no_checkpoint(tx: FakeTransactions, org: str, error: type[Exception]) -> None:
    policy, source, text = stoke_policy()
    async with tx.write() as uow:  # behind the use case's back: it always writes a first row
        await uow.orgs.create("bare", "Bare", policy, source, text)
    with pytest.raises(error):
        await admin.checkpoint(tx, org)


async def test_audit_rows_are_exported_by_time(tx: FakeTransactions) -> None:
    await create_stoke(tx)
    for hours in range(4):
        await admin.create_token(tx, STOKE, f"t{hours}", "cli", T0 + hours * HOUR)
    rows = [r async for r in admin.audit_rows(tx, STOKE, T0 + HOUR, T0 + 3 * HOUR)]
    assert [(r.seq, r.at) for r in rows] == [(3, T0 + HOUR), (4, T0 + 2 * HOUR)]
    with pytest.raises(UnknownOrganisation):
        [r async for r in admin.audit_rows(tx, "nowhere", T0, T0 + HOUR)]
