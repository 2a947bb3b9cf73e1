"""The try-out page's routes, mounted only in demo mode: the page, who can be picked, what
they say or press (answered as Slack or Teams would, through `handlers.chat`), and the
managers' channel and the person's private messages, polled.

There is no sign-in: the page says who is asking. That is acceptable only because demo mode
serves a fictional organisation on a loopback address (`caseload-bot serve --demo` refuses
any other HOST). Requests that act must be `application/json`, which a browser sends
cross-site only after a CORS preflight that this server never grants, so another site open
in the same browser cannot drive the demo.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from aiohttp import web

from bot.http_body import read_body
from bot.http_errors import invalid, problem
from bot.report_charts import drawn
from bot.services import SERVICES, Services
from bot.tryout import render, translate
from bot.tryout.messenger import WebMessenger
from handlers import demo
from handlers.alerts.messenger import Destination
from handlers.chat.replies import Reply
from handlers.chat.turn import failure, respond

log = logging.getLogger("caseload_bot.tryout")

STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self';"
    " img-src 'self' data:; frame-ancestors 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

routes = web.RouteTableDef()


def mount(app: web.Application, services: Services) -> None:
    """The routes, and the demo organisation seeded as the server starts (after the
    migrations, before anyone can ask)."""
    app.add_routes(routes)
    app.router.add_static("/try/static", STATIC)

    async def _seed(_: web.Application) -> None:
        created = await demo.seed(services.tx, services.now())
        log.info("tryout: demo organisation %s", "seeded" if created else "already there")

    app.on_startup.append(_seed)


@routes.get("/try")
async def page(_: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


@routes.get("/try/api/people")
async def people(_: web.Request) -> web.Response:
    return web.json_response(
        {
            "organisation": demo.ORG_NAME,
            "channel": demo.CHANNEL,
            "people": [{"id": p.ref, "name": p.name, "about": p.about} for p in demo.PEOPLE],
        }
    )


@routes.post("/try/api/say")
async def say(request: web.Request) -> web.Response:
    return await _turn(request, translate.say)


@routes.post("/try/api/press")
async def press(request: web.Request) -> web.Response:
    return await _turn(request, translate.press)


@routes.get("/try/api/channel")
async def channel(request: web.Request) -> web.Response:
    """`?as=HANDLE&since=SEQ`: messages posted or edited since `since`, in the channel and
    to that person privately; the page polls with the last `seq` it saw."""
    messenger = _messenger(request)
    handle = request.query.get("as", "")
    since = request.query.get("since", "0")
    if not since.isdigit() or len(since) > 12:
        return invalid("since", "is a whole number of at least 0: the last seq seen")
    try:
        translate.asker(handle)
    except translate.UnknownPerson as e:
        return problem(404, "unknown_person", str(e))
    return web.json_response(
        {
            "messages": [
                {
                    "seq": s.seq,
                    "id": s.id,
                    "where": "channel" if s.kind == "channel" else "private",
                    "reply": render.reply(s.reply, s.image),
                }
                for s in messenger.since(int(since), handle)
            ]
        }
    )


async def _turn(request: web.Request, read: translate.Reader) -> web.Response:
    services, messenger = request.app[SERVICES], _messenger(request)
    if request.content_type != "application/json":
        return problem(415, "unsupported", "send the body as application/json")
    try:
        incoming = read(await read_body(request))
    except translate.UnknownPerson as e:
        return problem(404, "unknown_person", str(e))
    reply = await _answer(services, incoming)
    if reply is None:
        return web.json_response({"reply": None})
    for notice in reply.notices:
        told = Reply(notice.text, notice.blocks)
        for to in notice.to:
            if to.platform == "web":
                await messenger.post(Destination("web", to.tenant, "person", to.user_id), told)
    image = None if reply.chart is None else await drawn(reply.chart)
    return web.json_response({"reply": render.reply(reply, image)})


async def _answer(services: Services, incoming: translate.Incoming) -> Reply | None:
    """The reply, or the failure reply with a reference that is also in the log."""
    try:
        return await respond(services.tx, incoming.asker, incoming.command, services.now())
    except Exception:
        reference = secrets.token_hex(4)
        log.exception(
            "tryout: command failed reference=%s user=%s command=%s",
            reference,
            incoming.asker.user_id,
            type(incoming.command).__name__,
        )
        return failure(reference)


def _messenger(request: web.Request) -> WebMessenger:
    messenger = request.app[SERVICES].tryout
    assert messenger is not None, "mounted only in demo mode"
    return messenger
