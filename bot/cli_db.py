"""`caseload-bot db|org|token|audit …`: set up storage and inspect the audit trail.

Every command uses DATABASE_URL from the settings, returns an exit code, and reports bad
input as one line on stderr with exit 2 (exit 1 only for a broken audit chain).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from bot.policy_source import read_policy
from bot.settings import settings
from handlers.errors import CaseloadError, UnknownOrganisation
from handlers.ports import AuditKind
from policy import PolicyError
from storage.db import connect
from storage.migrate import upgrade
from storage.repositories import Storage

CLI_ACTOR = "cli"
_ORG_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

Command = Callable[[Storage, argparse.Namespace], Awaitable[int]]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the database").add_subparsers(dest="cmd", required=True)
    db.add_parser("upgrade", help="apply the migrations").set_defaults(run=_db_upgrade)

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="cmd", required=True)
    create = org.add_parser("create", help="create an organisation on a policy")
    create.add_argument("--id", required=True, type=_org_id, help="e.g. stoke")
    create.add_argument("--policy", required=True, help="a preset id or a policy YAML file")
    create.add_argument("--name", help="display name (default: the id)")
    create.set_defaults(run=_wrap(_org_create))

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="cmd", required=True)
    token_create = token.add_parser("create", help="create a token; it is printed once")
    token_create.add_argument("--org", required=True)
    token_create.add_argument("--label", default="")
    token_create.set_defaults(run=_wrap(_token_create))

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="cmd", required=True
    )
    audit.add_parser("verify", help="check every hash chain").set_defaults(run=_wrap(_audit_verify))
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


def _db_upgrade(_args: argparse.Namespace) -> int:
    try:
        asyncio.run(upgrade(settings().DATABASE_URL))
    except (SQLAlchemyError, OSError) as exc:
        return _fail(f"cannot upgrade the database: {type(exc).__name__}")
    print("database is up to date", file=sys.stderr)
    return 0


def _wrap(command: Command) -> Callable[[argparse.Namespace], int]:
    """Run an async command on a fresh connection; known errors become one line, exit 2."""

    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            config = settings()
            db = connect(config.DATABASE_URL, config.DB_BUSY_TIMEOUT_MS)
            try:
                return await command(Storage(db), args)
            finally:
                await db.dispose()

        try:
            return asyncio.run(go())
        except (CaseloadError, PolicyError, OSError) as exc:
            return _fail(exc)
        except SQLAlchemyError as exc:
            return _fail(
                f"database error ({type(exc).__name__}); is it migrated? run `caseload-bot db upgrade`"
            )

    return run


async def _org_create(storage: Storage, args: argparse.Namespace) -> int:
    policy, text = read_policy(args.policy)
    at = dt.datetime.now(dt.UTC)
    async with storage.write() as s:
        org = await s.orgs.create(args.id, args.name or args.id, policy, args.policy, text)
        data: dict[str, Any] = {"name": org.name, "policy": policy.id, "version": policy.version}
        await s.audit.append(org.id, AuditKind.ORGANISATION_CREATED, CLI_ACTOR, data, at)
    print(f"created {org.id} on policy {policy.id} version {policy.version}", file=sys.stderr)
    return 0


async def _token_create(storage: Storage, args: argparse.Namespace) -> int:
    async with storage.write() as s:
        await s.orgs.require(args.org)
        token, record = await s.tokens.create(args.org, args.label)
        data: dict[str, Any] = {"token_id": record.id, "label": record.label}
        await s.audit.append(args.org, AuditKind.TOKEN_CREATED, CLI_ACTOR, data, record.created_at)
    print(token)
    print(f"token {record.id} for {args.org}: shown once, only its hash is kept", file=sys.stderr)
    return 0


async def _audit_verify(storage: Storage, _args: argparse.Namespace) -> int:
    async with storage.read() as s:
        problem = await s.audit.verify()
    if problem is not None:
        print(f"caseload-bot: {problem}", file=sys.stderr)
        return 1
    print("audit log intact", file=sys.stderr)
    return 0


async def _audit_export(storage: Storage, args: argparse.Namespace) -> int:
    if args.end < args.start:
        return _fail("--to is before --from")
    async with storage.read() as s:
        org = await s.orgs.get(args.org)
        if org is None:
            raise UnknownOrganisation(org=args.org)
        zone = ZoneInfo(org.time_zone)
        start = dt.datetime.combine(args.start, dt.time(), zone)
        end = dt.datetime.combine(args.end + dt.timedelta(days=1), dt.time(), zone)
        if args.out is None:
            count = await s.audit.export_csv(org.id, start, end, sys.stdout)
        else:
            with args.out.open("w", newline="", encoding="utf-8") as out:
                count = await s.audit.export_csv(org.id, start, end, out)
    print(f"exported {count} audit rows of {org.id}", file=sys.stderr)
    return 0
