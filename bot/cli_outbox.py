"""`caseload-bot outbox` (what could not be delivered, and sending it again) and
`caseload-bot escalations run` (the ladders, the day's sweep and delivery, once, as of a
given time: for cron, for a drill, for a test stepping through weeks in seconds)."""

from __future__ import annotations

import argparse
import datetime as dt
import time

from bot.alerts import worker_name
from bot.cli_db import _fail, _org_id, _wrap
from bot.services import Services
from handlers.alerts import sweep
from handlers.alerts.delivery import Delivery


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = sub.add_parser("outbox", help="messages waiting to be, or not, delivered")
    cmds = outbox.add_subparsers(dest="cmd", required=True)
    listing = cmds.add_parser("list", help="the parked (failed) messages, one line each")
    listing.add_argument("--failed", action="store_true", required=True, help="parked ones")
    listing.add_argument("--org", type=_org_id, help="one organisation only")
    listing.set_defaults(run=_wrap(_list))
    retry = cmds.add_parser("retry", help="send parked messages again (all, or --id)")
    retry.add_argument("--org", type=_org_id, help="one organisation only")
    retry.add_argument("--id", type=int, action="append", default=[], dest="ids", help="repeatable")
    retry.set_defaults(run=_wrap(_retry))

    escalations = sub.add_parser("escalations", help="ladders, reminders and the daily sweep")
    run = escalations.add_subparsers(dest="cmd", required=True).add_parser(
        "run", help="fire what is due, sweep the day if not yet swept, deliver, then exit"
    )
    run.add_argument("--now", type=_instant, help="as of this time (ISO 8601), not the clock")
    run.set_defaults(run=_wrap(_run))


def _instant(value: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time; use ISO 8601, e.g. 2026-12-07T09:00:00+00:00"
        ) from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone; add one, e.g. +00:00")
    return at.astimezone(dt.UTC)


async def _list(services: Services, args: argparse.Namespace) -> int:
    async with services.tx.read() as uow:
        failed = await uow.outbox.failed(args.org)
    for m in failed:
        print(
            f"{m.id}\t{m.org_id}\t{m.topic}\t{m.platform} {m.kind} {m.target}\t"
            f"{m.attempts} attempts\t{m.last_error or ''}"
        )
    return 0


async def _retry(services: Services, args: argparse.Namespace) -> int:
    async with services.tx.write() as uow:
        count = await uow.outbox.requeue(args.org, args.ids, services.now())
    if args.ids and count < len(args.ids):
        return _fail(f"{len(args.ids) - count} of those ids are not parked messages")
    print(f"{count} message(s) queued again; the server delivers them")
    return 0


async def _run(services: Services, args: argparse.Namespace) -> int:
    """As of `--now`, with the clock moving on from there as it runs (retries fall due)."""
    started = time.monotonic()
    start = args.now or services.now()

    def now() -> dt.datetime:
        return start + dt.timedelta(seconds=time.monotonic() - started)

    swept = await sweep.tick(services.tx, now())
    delivery = Delivery(services.tx, services.messengers, now, name=worker_name())
    sent = await delivery.drain()
    day = "swept" if swept.swept else "already swept"
    print(
        f"{start.isoformat()}: {swept.fired} escalation step(s) fired; the day {day}"
        f" ({swept.people} NQSWs); {sent} message(s) tried"
    )
    return 0
