"""The server's background work for alerts: the outbox's delivery worker, and a tick each
minute that fires the ladders' due steps and, once a day, the sweep. Started by
`caseload-bot serve`; every replica runs both (claims and run keys keep them apart)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from aiohttp import web

from bot.services import Services
from handlers.alerts import sweep
from handlers.alerts.delivery import Delivery, DeliveryPolicy

log = logging.getLogger("caseload_bot.alerts")

TICK_S = 60.0


def worker_name() -> str:
    """Who holds a claim, for the logs and `outbox list`: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def add_alerts(app: web.Application, services: Services) -> None:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    delivery = Delivery(
        services.tx,
        services.messengers,
        services.now,
        name=worker_name(),
        policy=DeliveryPolicy(lease_s=services.settings.OUTBOX_LEASE_S),
    )

    async def ticking() -> None:
        while not stop.is_set():
            try:
                await sweep.tick(services.tx, services.now())
            except Exception:  # the next tick tries again; nothing is lost meanwhile
                log.exception("alerts: a tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_S)

    async def start(_: web.Application) -> None:
        tasks.append(asyncio.create_task(delivery.run(stop)))
        tasks.append(asyncio.create_task(ticking()))

    async def halt(_: web.Application) -> None:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    app.on_startup.append(start)
    app.on_shutdown.append(halt)
