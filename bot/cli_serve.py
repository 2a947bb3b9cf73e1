"""`caseload-bot serve`: the aiohttp server with every route of the product on one port."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web
from pydantic import ValidationError

from bot.logs import configure_logging
from bot.services import bootstrap
from bot.settings import settings
from handlers.errors import StorageError

TEAMS_SHOWN = {
    None: "not configured",
    "authenticated": "authenticated",
    "anonymous": "anonymous (local try-out only)",
}
"""What the start-up lines say of `Settings.teams_mode`."""

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
"""Where `--demo` may listen: its page asks no one to sign in."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve", help="run the server (webhooks, decision API, docs) on HOST:PORT"
    )
    serve.add_argument("--migrate", action="store_true", help="apply database migrations first")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed a fictional demo organisation and serve the try-out page at /try"
        " (loopback HOST only)",
    )
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = settings()
    except ValidationError as exc:  # half a Slack configuration, a secret that cannot decode
        for error in exc.errors():
            print(f"caseload-bot: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    if args.demo and config.HOST not in LOOPBACK:
        print(
            f"caseload-bot: --demo serves a page with no sign-in, so only on a loopback HOST"
            f" (127.0.0.1, ::1 or localhost), not {config.HOST}",
            file=sys.stderr,
        )
        return 2
    configure_logging(config.LOG_FORMAT)
    # The web application and its chat routes load here, not when the CLI starts: every
    # other command (`import` first) would pay a second or more for them.
    from bot.alerts import add_alerts
    from bot.app import build_app

    services = bootstrap(config, demo=args.demo)
    app = build_app(services)
    add_alerts(app, services)
    if args.migrate:

        async def migrate(_: web.Application) -> None:
            await services.migrate()

        app.on_startup.insert(0, migrate)
    if config.CASE_EVENTS_SECRET is None:
        logging.getLogger("caseload_bot").warning(
            "CASE_EVENTS_SECRET is not set: /webhooks/case-events accepts events only for"
            " organisations with their own secret (`caseload-bot org secret`)"
        )
    slack = " and ".join(config.slack_modes) or "not configured"
    teams = TEAMS_SHOWN[config.teams_mode]
    base = _base_url(config.HOST, config.PORT)
    tryout = f"{base}/try" if args.demo else "off (start with --demo)"
    print(
        f"caseload-bot on {base}  (OpenAPI at /openapi.json)"
        f"\nSlack: {slack}\nTeams: {teams}"
        f"\nWebhooks: {base}/webhooks/case-events\nTry-out page: {tryout}",
        flush=True,
    )
    try:
        # No aiohttp access log: `bot.app` writes one line per request, by route pattern.
        # run_app calls `print` once the socket listens: after migrations and the demo seed.
        web.run_app(app, host=config.HOST, port=config.PORT, print=_ready, access_log=None)
    except StorageError as exc:
        print(f"caseload-bot: {exc}", file=sys.stderr)
        return 2
    return 0


def _base_url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _ready(_: str) -> None:
    print("ready", flush=True)
