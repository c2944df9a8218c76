"""The rendezvous server's SFU (``server.py signal --sfu janus``): a Janus beside it, fed by an ingest of
the published stream, and the ``/view/NAME/sfu`` socket of each viewer watching through it.

One published stream at a time goes through the SFU (Janus's mountpoints are set up once, for one
stream's tiers); the first stream published while the SFU is free takes it, and the others are watched
directly, as without ``--sfu``. When its publisher leaves, the next stream to register takes the SFU.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from sfu.ingest import Ingest
from sfu.service import Sfu, SfuSettings, running_sfu
from viewers.sfu_viewer import SfuViewer

from .guard import RateLimit, json_error, rate_limited
from .ice import IceOptions, rtc_configuration

logger = logging.getLogger(__name__)

SFU = web.AppKey("rendezvous_sfu", Sfu)
INGESTS = web.AppKey("rendezvous_ingests", dict[str, Ingest])
"""The stream taken in for the SFU, by name (at most one)."""
HELLO_WAIT = 15.0
"""Seconds a viewer's socket waits for the ingest's first word from the publisher."""


def add_rendezvous_sfu(app: web.Application, settings: SfuSettings, offer_rate: RateLimit | None) -> None:
    async def running(app: web.Application) -> AsyncIterator[None]:
        async with running_sfu(settings, None) as sfu:
            app[SFU] = sfu
            yield
            await asyncio.gather(*(i.close() for i in app[INGESTS].values()), return_exceptions=True)

    async def viewer(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        ingest = request.app[INGESTS].get(name)
        if ingest is None:
            return json_error(404, f"stream {name!r} is not watched through the SFU")
        if (limited := rate_limited(offer_rate, request)) is not None:
            return limited
        try:
            await asyncio.wait_for(ingest.connected.wait(), HELLO_WAIT)
        except asyncio.TimeoutError:
            return json_error(504, f"stream {name!r}: the SFU has not received it yet")
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        sfu_viewer = SfuViewer(ws, request, lambda: dict(ingest.metadata), request.app[SFU])
        logger.info("stream %r: %s connected from %s", name, sfu_viewer.label, request.remote)
        await sfu_viewer.serve()
        return ws

    app[INGESTS] = {}
    app.cleanup_ctx.append(running)
    app.router.add_get("/view/{name}/sfu", viewer)


def sfu_fields(app: web.Application, name: str) -> dict[str, Any]:
    """What ``/view/NAME/config`` adds for a stream watched through the SFU."""
    return {"sfu": True} if name in app.get(INGESTS, {}) else {}


async def take_in(app: web.Application, name: str, ice: IceOptions,
                  forward: Callable[[str], Awaitable[str]]) -> None:
    """Take the newly published stream ``name`` in for the SFU if it is free (``forward`` relays an offer to
    its publisher and returns the answer). Logs and gives up on failure: the stream is then watched directly."""
    if SFU not in app or app[INGESTS]:
        return
    sfu = app[SFU]
    ingest = Ingest(name, sfu.settings.janus.tiers, sfu.settings.janus.feed_ip,
                    rtc_configuration(ice.client_config(f"sfu@{name}")))
    app[INGESTS][name] = ingest
    try:
        await ingest.connect(forward)
    except Exception as exc:  # the publisher refused, left, or did not answer: no SFU for this stream
        logger.warning("stream %r: not taken in for the SFU: %s", name, exc)
        await let_go(app, name, ingest)


async def let_go(app: web.Application, name: str, ingest: Ingest | None = None) -> None:
    """The stream's publisher left: stop its ingest, freeing the SFU for the next stream."""
    current = app.get(INGESTS, {}).get(name)
    if current is None or (ingest is not None and current is not ingest):
        return
    del app[INGESTS][name]
    await current.close()
    logger.info("stream %r: no longer taken in for the SFU", name)
