"""The composition root: `bootstrap` builds, once, everything the server and every command
share, typed as the ports the use cases need. The chat adapters and the delivery worker are
built here too as they arrive; tests call it with their own settings and database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from bot.metrics import Metrics
from bot.settings import Settings
from handlers.alerts.messenger import Messenger
from handlers.case_events import EventQueue, OrgSecrets
from handlers.ports import Platform, Transactions
from storage.db import Database, connect
from storage.migrate import SchemaState, schema_state, upgrade_database
from storage.repositories import Storage

if TYPE_CHECKING:
    from bot.slack.app import SlackEdge
    from bot.teams.agent import TeamsEdge
    from bot.tryout.messenger import WebMessenger

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    tx: Transactions
    """Every use case's way to the database."""
    now: Clock
    """The time, in UTC: read here so that tests can say what time it is."""
    migrate: Callable[[], Awaitable[None]]
    """Brings the database's schema up to this release's."""
    schema: Callable[[], Awaitable[SchemaState]]
    """Where the database's migrations stand against this release's (`/readyz`)."""
    metrics: Metrics
    """This application's own metrics registry (`/metrics`)."""
    events: EventQueue
    """Case events sent one per request, committed in groups."""
    secrets: OrgSecrets
    """The organisations' own webhook secrets, read at most every few seconds."""
    close: Callable[[], Awaitable[None]]
    """Releases what `bootstrap` opened."""
    slack: SlackEdge | None = None
    """None when no Slack mode is configured."""
    teams: TeamsEdge | None = None
    """None when Teams is not configured (no client id, not anonymous)."""
    tryout: WebMessenger | None = None
    """The try-out page's messages; None unless in demo mode (`serve --demo`)."""

    @property
    def messengers(self) -> dict[Platform, Messenger]:
        """What the outbox delivers through: each configured platform's sender."""
        out: dict[Platform, Messenger] = {}
        if self.slack is not None:
            out["slack"] = self.slack.messenger
        if self.teams is not None:
            out["teams"] = self.teams.messenger
        if self.tryout is not None:
            out["web"] = self.tryout
        return out


def bootstrap(
    settings: Settings,
    *,
    database: Database | None = None,
    now: Clock = utcnow,
    demo: bool = False,
) -> Services:
    """`database`: one already connected (tests), which `close` leaves open. `demo`: serve
    the try-out page over the demo organisation (loopback only: `serve --demo` checks)."""
    db = database or connect(settings.DATABASE_URL, settings.DB_BUSY_TIMEOUT_MS)
    tx = Storage(db)
    metrics = Metrics()
    events = EventQueue(tx)
    # Each chat SDK is loaded only when its platform is configured: a second or more of
    # start-up that `caseload-bot import` and the other commands need not pay.
    slack: SlackEdge | None = None
    if settings.slack_modes:
        from bot.slack.app import SlackEdge

        slack = SlackEdge(settings, tx, now, metrics)
    teams: TeamsEdge | None = None
    if settings.teams_mode is not None:
        from bot.teams.agent import TeamsEdge

        teams = TeamsEdge(settings, tx, now, metrics)
    tryout: WebMessenger | None = None
    if demo:
        from bot.tryout.messenger import WebMessenger

        tryout = WebMessenger()

    async def close() -> None:
        await events.close()
        # The chat edges first: what they still send may read the database.
        if slack is not None:
            await slack.close()
        if teams is not None:
            await teams.close()
        if database is None:
            await db.dispose()

    return Services(
        settings=settings,
        tx=tx,
        now=now,
        migrate=lambda: upgrade_database(db),
        schema=lambda: schema_state(db),
        metrics=metrics,
        events=events,
        secrets=OrgSecrets(tx),
        close=close,
        slack=slack,
        teams=teams,
        tryout=tryout,
    )


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
"""Set on every request; carried in the answer's X-Request-Id and in the logs."""
