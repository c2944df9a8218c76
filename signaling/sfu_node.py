"""A relay node (``server.py relay URL``): a Janus of its own, fed by one connection to an upstream streamer
(signaling/upstream.py), and the viewer's page served as a streamer serves it, watching through that Janus.

Several nodes spread an audience over several hosts while the upstream sends one stream per node: the
vehicle's uplink, or the streamer's CPU, carries as many streams as there are nodes, not viewers. The
node serves the page, ``/config`` (its ICE servers, ``sfu``, and no WebSocket transport: points come only
through Janus), ``/sfu`` (a viewer's signaling and control) and ``/stats``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from sfu.service import Sfu, SfuSettings, running_sfu
from viewers.sfu_viewer import SfuViewer

from .client_files import CLIENT_DIR, add_client_routes, page
from .guard import RateLimit, app_middlewares, json_error, rate_limited
from .ice import IceOptions
from .socket_viewer import serve_socket_viewer
from .upstream import Upstream

logger = logging.getLogger(__name__)

PROTECTED = ("/", "/config", "/sfu", "/stats")
"""Paths that need the node's token when it has one; the client's code is public."""
STREAM_WAIT = 15.0
"""Seconds a viewer's socket waits for the upstream's stream to come in."""


@dataclass
class NodeConfig:
    upstream: Upstream
    sfu: SfuSettings
    ice: IceOptions = field(default_factory=IceOptions)
    """The ICE servers this node's viewers get (Janus gets the same)."""
    token: str | None = None
    offer_rate: RateLimit | None = field(default_factory=RateLimit)
    max_viewers: int | None = None
    client_dir: Path = CLIENT_DIR


CONFIG = web.AppKey("node_config", NodeConfig)
SFU = web.AppKey("node_sfu", Sfu)
VIEWERS = web.AppKey("node_viewers", set[SfuViewer])


async def index(request: web.Request) -> web.StreamResponse:
    return page(request.app[CONFIG].client_dir, "index.html")


async def config(request: web.Request) -> web.Response:
    body = request.app[CONFIG].ice.client_config(f"viewer@{request.remote}")
    return web.json_response({**body, "sfu": True, "websocket": False})


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"upstream": request.app[CONFIG].upstream.describe(),
                              "viewers": [v.describe() for v in request.app[VIEWERS]],
                              "sfu": request.app[SFU].describe()})


async def viewer(request: web.Request) -> web.StreamResponse:
    cfg = request.app[CONFIG]
    if (limited := rate_limited(cfg.offer_rate, request)) is not None:
        return limited
    if cfg.max_viewers is not None and len(request.app[VIEWERS]) >= cfg.max_viewers:
        return json_error(503, f"this node serves at most {cfg.max_viewers} viewers")
    if not await cfg.upstream.wait_connected(STREAM_WAIT):
        return json_error(504, f"the stream from {cfg.upstream.base} has not come in yet")
    return await serve_socket_viewer(request, request.app[VIEWERS],
                                     lambda ws: SfuViewer(ws, request, cfg.upstream.metadata, request.app[SFU]))


async def _running(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]

    async def restart_viewers() -> None:
        logger.info("the stream came in again: closing %d viewer session(s); they connect again afresh",
                    len(app[VIEWERS]))
        await _close_viewers(app)

    cfg.upstream.on_reconnected = restart_viewers
    async with running_sfu(cfg.sfu, None) as sfu:
        app[SFU] = sfu
        task = asyncio.create_task(cfg.upstream.run())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _close_viewers(app: web.Application) -> None:
    await asyncio.gather(*(v.ws.close() for v in app[VIEWERS]), return_exceptions=True)


def init_node_app(cfg: NodeConfig) -> web.Application:
    rules = [(path, cfg.token) for path in PROTECTED if cfg.token is not None]
    app = web.Application(middlewares=app_middlewares(rules))
    app[CONFIG] = cfg
    app[VIEWERS] = set()
    app.router.add_get("/", index)
    app.router.add_get("/config", config)
    app.router.add_get("/stats", stats)
    app.router.add_get("/sfu", viewer)
    add_client_routes(app, cfg.client_dir)
    app.cleanup_ctx.append(_running)
    app.on_shutdown.append(_close_viewers)
    return app
