"""SQLite's writers in this process take turns; an answer someone waits for in chat goes
ahead of queued webhooks, and a writer cancelled while waiting never strands the turn."""

from __future__ import annotations

import asyncio

from storage.db import WriteQueue


async def test_urgent_writers_go_first_each_lane_in_arrival_order() -> None:
    queue = WriteQueue()
    order: list[str] = []
    release = asyncio.Event()

    async def writer(name: str, urgent: bool = False, hold: asyncio.Event | None = None) -> None:
        async with queue.turn(urgent):
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(writer("webhook-1", hold=release))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(writer("webhook-2")),
        asyncio.create_task(writer("webhook-3")),
        asyncio.create_task(writer("chat-1", urgent=True)),
        asyncio.create_task(writer("chat-2", urgent=True)),
    ]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["webhook-1", "chat-1", "chat-2", "webhook-2", "webhook-3"]


async def test_a_writer_cancelled_in_the_queue_passes_its_turn_on() -> None:
    queue = WriteQueue()
    release = asyncio.Event()
    done: list[str] = []

    async def writer(name: str, hold: asyncio.Event | None = None) -> None:
        async with queue.turn():
            if hold is not None:
                await hold.wait()
            done.append(name)

    holder = asyncio.create_task(writer("a", hold=release))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(writer("b"))
    last = asyncio.create_task(writer("c"))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, last), timeout=1)
    assert done == ["a", "c"] and cancelled.cancelled()
    async with asyncio.timeout(1), queue.turn():  # and the queue is free again
        pass
