"""`caseload-bot serve`: the aiohttp server with every route of the product on one port."""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import web

from bot.app import build_app
from bot.settings import settings
from storage.migrate import upgrade


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve", help="run the server (webhooks, decision API, docs) on HOST:PORT"
    )
    serve.add_argument("--migrate", action="store_true", help="apply database migrations first")
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.migrate:
        asyncio.run(upgrade(config.DATABASE_URL))
    if config.CASE_EVENTS_SECRET is None:
        logging.getLogger("caseload_bot").warning(
            "CASE_EVENTS_SECRET is not set: /webhooks/case-events refuses every event until it is"
        )
    print(
        f"caseload-bot on http://{config.HOST}:{config.PORT}  (OpenAPI at /openapi.json)",
        flush=True,
    )
    web.run_app(build_app(config), host=config.HOST, port=config.PORT, print=None)
    return 0
