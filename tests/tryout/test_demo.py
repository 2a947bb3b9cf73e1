"""`serve --demo` seeds a fictional council through the case-event handlers: exactly the
people, months, identities, channel and one open breach (with its alert queued) the try-out
page relies on; seeding again changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from handlers import admin, demo
from handlers.alerts.breach_alerts import ALERT, NOTE
from handlers.chat import wording as w
from handlers.events import event_day
from handlers.policy_cache import compiled_policy
from policy import LONDON
from policy.progress import progress
from storage.db import Database
from storage.repositories import Storage
from tests.http.conftest import snapshot

NOW = dt.datetime.now(dt.UTC)


async def test_the_demo_is_seeded_once_with_one_open_breach(db: Database) -> None:
    storage = Storage(db)
    assert await demo.seed(storage, NOW) is True
    today = event_day(demo.office_hours_before(NOW))
    async with storage.read() as uow:
        org = await uow.orgs.get(demo.ORG)
        assert org is not None and org.policy_id == demo.POLICY
        months = {}
        for p in demo.PEOPLE:
            person = await uow.directory.person("web", demo.TENANT, p.ref)
            assert person is not None and (person.ref, person.display_name) == (p.ref, p.name)
            assert person.roles == frozenset(p.roles)
            worker = await uow.people.asye_worker(person.id)
            if worker is not None:
                at = progress(compiled_policy(org), today, worker).month_of_practice
                months[p.ref] = w.month(at)
        assert months == {"sam.okafor": "month 2", "priya.shah": "month 8"}
        team = await uow.teams.get(demo.ORG, demo.TEAM)
        assert team is not None and team.web_channel_id == demo.CHANNEL
        (breach,) = await uow.breaches.unresolved(demo.ORG)
        sam = await uow.people.get(demo.ORG, "sam.okafor")
        assert sam is not None and breach.person_id == sam.id
        assert (breach.breach.rule, breach.breach.case_ids, breach.status) == (
            "stoke.cp.none-before-six-month-review",
            ("C-2001",),
            "open",
        )
        queued = await uow.outbox.of_breach(breach.id, (ALERT, NOTE))
    assert sorted((m.topic, m.platform, m.kind, m.target) for m in queued) == sorted(
        [
            (ALERT, "web", "channel", demo.CHANNEL),
            (ALERT, "web", "person", "alex.rivers"),
            (ALERT, "web", "person", "jordan.blake"),
            (NOTE, "web", "person", "sam.okafor"),
        ]
    )
    assert all(m.due_at <= NOW for m in queued), "due at once, whatever the time of day"
    assert await admin.verify_audit(storage) == ()

    before = await snapshot(db)
    assert await demo.seed(storage, NOW + dt.timedelta(days=3)) is False
    assert await snapshot(db) == before


def london(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=LONDON).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("now", "seeded_at"),
    [
        (london("2026-11-24", "10:30"), london("2026-11-24", "10:30")),  # a Tuesday, open
        (london("2026-11-24", "20:00"), london("2026-11-24", "17:00")),  # that evening
        (london("2026-11-24", "07:00"), london("2026-11-23", "17:00")),  # before opening
        (london("2026-11-29", "12:00"), london("2026-11-27", "17:00")),  # a Sunday
        (london("2026-12-28", "12:00"), london("2026-12-24", "17:00")),  # bank holidays
    ],
)
def test_the_demo_happens_when_the_office_was_last_open(
    now: dt.datetime, seeded_at: dt.datetime
) -> None:
    """So that its breach alert is due at once, not at 09:00 the next working day."""
    assert demo.office_hours_before(now) == seeded_at
