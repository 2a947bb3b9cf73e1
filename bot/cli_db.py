"""`caseload-bot db|org|token|audit …`: set up storage, organisations and their keys, and
check the audit trail.

Every command runs on the services `bot.services.bootstrap` builds from the settings,
returns an exit code, and reports bad input as one line on stderr with exit 2 (exit 1 only
for a broken audit chain).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from bot.policy_source import read_policy
from bot.services import Services, bootstrap
from bot.settings import settings
from handlers import admin
from handlers.errors import CaseloadError
from handlers.ports import Checkpoint
from handlers.reports import weekly
from policy import PolicyError
from policy.calendar import LONDON
from policy.errors import InputError, input_error

CLI_ACTOR = "cli"
_ORG_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EXPORT_COLUMNS = ("seq", "at", "kind", "actor", "data", "prev_hash", "hash")

Command = Callable[[Services, argparse.Namespace], Awaitable[int]]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the database").add_subparsers(dest="cmd", required=True)
    db.add_parser("upgrade", help="apply the migrations").set_defaults(run=_wrap(_db_upgrade))

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="cmd", required=True)
    create = org.add_parser("create", help="create an organisation on a policy")
    create.add_argument("--id", required=True, type=_org_id, help="e.g. stoke")
    create.add_argument("--policy", required=True, help="a preset id or a policy YAML file")
    create.add_argument("--name", help="display name (default: the id)")
    create.set_defaults(run=_wrap(_org_create))
    secret = org.add_parser(
        "secret",
        help="give the organisation its own webhook secret, printed once (again: rotate it; "
        "the previous one stays valid for 24 hours)",
    )
    secret.add_argument("--org", required=True)
    secret.set_defaults(run=_wrap(_org_secret))
    day = org.add_parser(
        "report-day", help="the day the weekly report is posted at 09:00 (Monday), or off"
    )
    day.add_argument("--org", required=True)
    day.add_argument("--day", required=True, choices=(*weekly.WEEKDAYS, "off"))
    day.set_defaults(run=_wrap(_org_report_day))
    equality = org.add_parser(
        "equality",
        help="the equality view (the report's measures by cohort, for the principal social"
        " worker only): which cohort attributes the organisation records, or off",
    )
    equality.add_argument("--org", required=True)
    which = equality.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--attributes",
        metavar="KEY,KEY",
        help="the attributes worker.upserted may then carry, e.g. ethnicity,sex,route; the"
        " values of any attribute left out are erased",
    )
    which.add_argument(
        "--off", action="store_true", help="switch it off and erase every stored cohort value"
    )
    equality.set_defaults(run=_wrap(_org_equality))

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="cmd", required=True)
    token_create = token.add_parser("create", help="create a token; it is printed once")
    token_create.add_argument("--org", required=True)
    token_create.add_argument("--label", default="")
    token_create.set_defaults(run=_wrap(_token_create))
    token_list = token.add_parser("list", help="the organisation's tokens (never the tokens)")
    token_list.add_argument("--org", required=True)
    token_list.set_defaults(run=_wrap(_token_list))
    token_revoke = token.add_parser("revoke", help="revoke a token at once")
    token_revoke.add_argument("--org", required=True)
    token_revoke.add_argument("--id", required=True, type=int, help="as `token list` shows it")
    token_revoke.set_defaults(run=_wrap(_token_revoke))

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="cmd", required=True
    )
    verify = audit.add_parser("verify", help="check every organisation's hash chain")
    verify.add_argument(
        "--checkpoint",
        type=Path,
        help="a file of `audit checkpoint` lines: each must still be in its chain",
    )
    verify.set_defaults(run=_wrap(_audit_verify))
    point = audit.add_parser(
        "checkpoint", help="print the chain's head as one JSON line, to keep somewhere else"
    )
    point.add_argument("--org", required=True)
    point.set_defaults(run=_wrap(_audit_checkpoint))
    export = audit.add_parser("export", help="write an organisation's audit rows as CSV")
    export.add_argument("--org", required=True)
    export.add_argument("--from", dest="start", required=True, type=_date, help="YYYY-MM-DD")
    export.add_argument("--to", dest="end", required=True, type=_date, help="YYYY-MM-DD, included")
    export.add_argument("--out", type=Path, help="CSV file (default: standard output)")
    export.set_defaults(run=_wrap(_audit_export))


def _org_id(value: str) -> str:
    if not _ORG_ID.match(value):
        raise argparse.ArgumentTypeError("use lower-case letters, digits, - and _ (at most 64)")
    return value


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None


def _fail(message: object) -> int:
    print(f"caseload-bot: {message}", file=sys.stderr)
    return 2


def _wrap(command: Command) -> Callable[[argparse.Namespace], int]:
    """Run an async command on the services; known errors become one line, exit 2."""

    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            services = bootstrap(settings())
            try:
                return await command(services, args)
            finally:
                await services.close()

        try:
            return asyncio.run(go())
        except (CaseloadError, PolicyError) as exc:
            return _fail(exc)
        except OSError as exc:
            return _fail(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".strip())

    return run


async def _org_report_day(services: Services, args: argparse.Namespace) -> int:
    weekday = None if args.day == "off" else weekly.WEEKDAYS.index(args.day)
    await weekly.set_report_day(services.tx, args.org, weekday, services.now())
    said = "off" if weekday is None else f"posted on {args.day.capitalize()}s from 09:00"
    print(f"the weekly report of {args.org} is {said}", file=sys.stderr)
    return 0


async def _org_equality(services: Services, args: argparse.Namespace) -> int:
    attributes = None if args.off else [a.strip() for a in args.attributes.split(",") if a.strip()]
    change = await admin.set_equality_view(
        services.tx, args.org, attributes, CLI_ACTOR, services.now()
    )
    on = change.attributes
    said = "off" if on is None else "on, recording " + ", ".join(on)
    erased = f"{change.values_erased} stored cohort values erased"
    print(f"the equality view of {args.org} is {said}; {erased}", file=sys.stderr)
    return 0


async def _db_upgrade(services: Services, _args: argparse.Namespace) -> int:
    await services.migrate()
    print("database is up to date", file=sys.stderr)
    return 0


async def _org_create(services: Services, args: argparse.Namespace) -> int:
    policy, text = read_policy(args.policy)
    org = await admin.create_organisation(
        services.tx,
        args.id,
        args.name or args.id,
        policy,
        args.policy,
        text,
        CLI_ACTOR,
        services.now(),
    )
    print(f"created {org.id} on policy {policy.id} version {policy.version}", file=sys.stderr)
    return 0


async def _org_secret(services: Services, args: argparse.Namespace) -> int:
    secret, previous_until = await admin.set_webhook_secret(
        services.tx, args.org, CLI_ACTOR, services.now()
    )
    print(secret)
    if previous_until is None:
        note = "from now on its events verify only with this secret, not CASE_EVENTS_SECRET"
    else:
        note = f"the previous secret stays valid until {previous_until:%Y-%m-%d %H:%M} UTC"
    print(f"webhook secret for {args.org}: shown once; {note}", file=sys.stderr)
    return 0


async def _token_create(services: Services, args: argparse.Namespace) -> int:
    token, record = await admin.create_token(
        services.tx, args.org, args.label, CLI_ACTOR, services.now()
    )
    print(token)
    print(f"token {record.id} for {args.org}: shown once, only its hash is kept", file=sys.stderr)
    return 0


async def _token_list(services: Services, args: argparse.Namespace) -> int:
    tokens = await admin.list_tokens(services.tx, args.org)
    rows = [("id", "label", "created", "last used", "revoked")]
    rows += [
        (
            str(t.id),
            t.label or "-",
            _when(t.created_at),
            _when(t.last_used_at) if t.last_used_at else "never",
            _when(t.revoked_at) if t.revoked_at else "-",
        )
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


async def _token_revoke(services: Services, args: argparse.Namespace) -> int:
    record = await admin.revoke_token(services.tx, args.org, args.id, CLI_ACTOR, services.now())
    assert record.revoked_at is not None
    print(f"token {record.id} of {args.org} revoked at {_when(record.revoked_at)}", file=sys.stderr)
    return 0


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _read_checkpoints(path: Path) -> list[Checkpoint]:
    points = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            points.append(admin.CHECKPOINT.validate_json(line))
        except ValidationError as exc:
            error = input_error(exc, root="line")
            raise InputError(f"{path}:{number}: {error.field}", error.message) from None
    return points


async def _audit_checkpoint(services: Services, args: argparse.Namespace) -> int:
    print(admin.checkpoint_line(await admin.checkpoint(services.tx, args.org)))
    return 0


async def _audit_verify(services: Services, args: argparse.Namespace) -> int:
    points = _read_checkpoints(args.checkpoint) if args.checkpoint else []
    problems = await admin.verify_audit(services.tx, points)
    for problem in problems:
        print(f"caseload-bot: {problem}", file=sys.stderr)
    if problems:
        return 1
    held = f"; it holds all {len(points)} checkpoints" if points else ""
    print(f"audit log intact{held}", file=sys.stderr)
    return 0


async def _audit_export(services: Services, args: argparse.Namespace) -> int:
    if args.end < args.start:
        return _fail("--to is before --from")
    start = dt.datetime.combine(args.start, dt.time(), LONDON)
    end = (
        dt.datetime.combine(args.end + dt.timedelta(days=1), dt.time(), LONDON)
        if args.end < dt.date.max
        else dt.datetime.max.replace(tzinfo=dt.UTC)
    )
    if args.out is None:
        count = await _write_csv(services, args.org, start, end, sys.stdout)
    else:
        with args.out.open("w", newline="", encoding="utf-8") as out:
            count = await _write_csv(services, args.org, start, end, out)
    print(f"exported {count} audit rows of {args.org}", file=sys.stderr)
    return 0


async def _write_csv(
    services: Services, org_id: str, start: dt.datetime, end: dt.datetime, out: IO[str]
) -> int:
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    async for row in admin.audit_rows(services.tx, org_id, start, end):
        writer.writerow(
            (row.seq, row.at.isoformat(), row.kind, row.actor, row.data, row.prev_hash, row.hash)
        )
        count += 1
    return count
