"""The webhook's tenant boundary (issue 6, defect 7): an organisation with a secret of its
own is written to only with that secret, a rotated secret stays valid for 24 hours, and
delivery ids are deduplicated per organisation.

Both organisations start on the deployment's CASE_EVENTS_SECRET (`SECRET`).
"""

from __future__ import annotations

import datetime as dt

from handlers import admin
from handlers.case_events import OrgSecrets
from tests.http.conftest import (
    OTHER,
    SAMPLES,
    SECRET,
    STOKE,
    Api,
    audit_rows,
    event,
    snapshot,
)

TEAM = SAMPLES["team.upserted"]


def team_event(org: str, name: str) -> dict[str, object]:
    return event("team.upserted", {**TEAM, "name": name}, org=org)


async def give_secret(api: Api, org: str) -> tuple[str, dt.datetime | None]:
    return await admin.set_webhook_secret(api.storage, org, "cli", api.clock())


async def test_an_organisations_own_secret_replaces_the_shared_one_for_it_alone(api: Api) -> None:
    await api.accept(team_event(STOKE, "Before"))
    own, previous = await give_secret(api, STOKE)
    assert own.startswith("whsec_") and own != SECRET and previous is None
    # Its own secret verifies at once; the shared one stops once what was read goes stale.
    assert (await api.deliver(team_event(STOKE, "Own secret at once"), secret=own)).status == 202
    api.clock.offset = OrgSecrets.FRESH

    before = await snapshot(api.db)
    shared = await api.deliver(team_event(STOKE, "Written by another council"))
    assert shared.status == 401
    assert (await shared.json())["error"] == "signature"
    assert await snapshot(api.db) == before

    assert (await api.deliver(team_event(STOKE, "Own secret"), secret=own)).status == 202
    # The other organisation still signs with the shared secret, and cannot use stoke's.
    assert (await api.deliver(team_event(OTHER, "Dorset"), secret=own)).status == 401
    await api.accept(team_event(OTHER, "Dorset"))

    (record,) = await audit_rows(api.db, "webhook_secret_set")
    assert record["previous_valid_until"] is None and own not in str(record)


async def test_a_rotated_secret_stays_valid_for_24_hours(api: Api) -> None:
    first, _ = await give_secret(api, STOKE)
    api.clock.offset = dt.timedelta(hours=1)
    rotated_at = api.clock()
    second, previous_until = await admin.set_webhook_secret(api.storage, STOKE, "cli", rotated_at)
    assert previous_until == rotated_at + dt.timedelta(hours=24)
    assert (await api.deliver(team_event(STOKE, "Old"), secret=first)).status == 202
    assert (await api.deliver(team_event(STOKE, "New"), secret=second)).status == 202

    api.clock.offset = dt.timedelta(hours=1 + 23, minutes=59)
    assert (await api.deliver(team_event(STOKE, "Old, late"), secret=first)).status == 202
    api.clock.offset = dt.timedelta(hours=1 + 24, minutes=1)
    refused = await api.deliver(team_event(STOKE, "Old, too late"), secret=first)
    assert refused.status == 401
    assert (await api.deliver(team_event(STOKE, "New, later"), secret=second)).status == 202
    assert (await api.deliver(team_event(STOKE, "Shared"))).status == 401


async def test_delivery_ids_are_deduplicated_per_organisation(api: Api) -> None:
    """Two councils' case systems may both number their deliveries `msg_1`."""
    stoke = await api.accept(team_event(STOKE, "Stoke"), msg_id="msg_1")
    dorset = await api.accept(team_event(OTHER, "Dorset"), msg_id="msg_1")
    assert (stoke["duplicate"], dorset["duplicate"]) == (False, False)
    assert dorset["changed"] is True
    again = await api.accept(team_event(OTHER, "Dorset"), msg_id="msg_1")
    assert again["duplicate"] is True
    async with api.storage.read() as s:
        teams = [await s.teams.get(org, TEAM["ref"]) for org in (STOKE, OTHER)]
    assert [t.name if t else None for t in teams] == ["Stoke", "Dorset"]


async def test_a_body_that_names_no_valid_organisation_is_judged_by_the_shared_secret(
    api: Api,
) -> None:
    """Nothing is looked up for an `org` that could not be one; the signature still comes
    before anything the body says."""
    await give_secret(api, STOKE)
    for org in ("", "a" * 500, "stoke\x00", None):
        body = {**team_event(STOKE, "x"), "org": org}
        assert (await api.deliver(body, secret="whsec_" + "A" * 44)).status == 401
        answer = await (await api.deliver(body)).json()
        assert answer["error"] == "invalid" and answer["field"] == "org", answer
