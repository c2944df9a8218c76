"""aiohttp application: serves the client, its ICE configuration, and answers WebRTC offers."""
from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from sfu.service import Sfu, SfuSettings, running_sfu
from stream.messages import wire_fields
from viewers.answer import LIVE_PEER_CONNECTIONS, UnusableOffer, answer_offer
from viewers.memory import memory_report
from viewers.peer import ViewerPeer
from viewers.settings import ViewerSettings
from viewers.sfu_viewer import SfuViewer
from viewers.websocket import WebSocketViewer

from .client_files import CLIENT_DIR, add_client_routes, page
from .guard import RateLimit, app_middlewares, json_error, rate_limited
from .ice import IceOptions, rtc_configuration
from .offers import MAX_OFFER_BYTES, OfferError, check_capacity, parse_offer
from .responses import read_body
from .socket_viewer import serve_socket_viewer

logger = logging.getLogger(__name__)

PROTECTED = ("/", "/config", "/offer", "/ws", "/sfu", "/stats")
"""Paths that need the token when there is one; the client's code (/assets, /src, /vendor, /build) is public."""


@dataclass
class ServerConfig:
    """Everything the single-host app needs; built by server.py from the command line."""

    viewers: ViewerSettings
    """How every viewer is served (the stream, pacing, limits, timeouts)."""
    ice: IceOptions = field(default_factory=IceOptions)
    """ICE servers for both ends. None by default: nothing outside is contacted unless configured."""
    client_dir: Path = CLIENT_DIR
    token: str | None = None
    """When set, the page, /config, /offer, /ws and /stats need it (signaling/guard.py)."""
    offer_rate: RateLimit | None = field(default_factory=RateLimit)
    """New offers and WebSocket viewers per client address; None: unlimited."""
    sfu: SfuSettings | None = None
    """When set, Janus runs beside the streamer, gets every frame once, and the page's viewers watch through it."""


CONFIG = web.AppKey("config", ServerConfig)
PEERS = web.AppKey("peers", set[ViewerPeer])
WS_VIEWERS = web.AppKey("ws_viewers", set[WebSocketViewer])
SFU_VIEWERS = web.AppKey("sfu_viewers", set[SfuViewer])
SFU = web.AppKey("sfu", Sfu)


async def index(request: web.Request) -> web.StreamResponse:
    return page(request.app[CONFIG].client_dir, "index.html")


async def config(request: web.Request) -> web.Response:
    body = request.app[CONFIG].ice.client_config(f"viewer@{request.remote}")
    if SFU in request.app:
        body["sfu"] = True
    return web.json_response(body)


def describe_viewers(app: web.Application) -> list[dict]:
    return [v.describe() for v in (*app[PEERS], *app[WS_VIEWERS], *app[SFU_VIEWERS])]


def viewer_count(app: web.Application) -> int:
    return len(app[PEERS]) + len(app[WS_VIEWERS]) + len(app[SFU_VIEWERS])


async def stats(request: web.Request) -> web.Response:
    b = request.app[CONFIG].viewers.broadcaster
    if request.query.get("gc") == "1":  # count only what is really still referenced (slow: diagnostics)
        gc.collect()
    return web.json_response({"broadcast": wire_fields(b.stats), "finished": b.finished,
                              "viewers": describe_viewers(request.app), "tasks": len(asyncio.all_tasks()),
                              "peerConnections": len(LIVE_PEER_CONNECTIONS), "memory": memory_report(),
                              "sfu": request.app[SFU].describe() if SFU in request.app else None})


async def offer(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    if (limited := rate_limited(cfg.offer_rate, request)) is not None:
        return limited
    try:
        sdp = parse_offer(await read_body(request, MAX_OFFER_BYTES))
        check_capacity(viewer_count(request.app), cfg.viewers.max_viewers)
        rtc = rtc_configuration(cfg.ice.client_config(f"streamer@{request.remote}"))
        answer = await answer_offer(cfg.viewers, request.app[PEERS], sdp, rtc, request.remote)
    except UnusableOffer as exc:
        return json_error(400, str(exc))
    except OfferError as exc:
        return json_error(exc.status, str(exc))
    return web.json_response({"sdp": answer.sdp, "type": answer.type})


async def websocket(request: web.Request) -> web.StreamResponse:
    return await _socket_viewer(request, WS_VIEWERS,
                                lambda ws: WebSocketViewer(ws, request, request.app[CONFIG].viewers))


async def sfu_viewer(request: web.Request) -> web.StreamResponse:
    """A viewer watching through the SFU: signaling and control over this WebSocket, points from Janus."""
    if SFU not in request.app:
        return json_error(404, "this streamer runs without an SFU")
    return await _socket_viewer(request, SFU_VIEWERS,
                                lambda ws: SfuViewer(ws, request, request.app[CONFIG].viewers.broadcaster.metadata,
                                                     request.app[SFU], request.app[CONFIG].viewers.stats_interval))


async def _socket_viewer(request: web.Request, registry: web.AppKey[Any],
                         make: Callable[[web.WebSocketResponse], WebSocketViewer | SfuViewer]) -> web.StreamResponse:
    """A viewer over a WebSocket (the fallback transport, or the SFU's signaling and control), within the
    offer rate and viewer limits; served until it leaves."""
    cfg = request.app[CONFIG]
    if (limited := rate_limited(cfg.offer_rate, request)) is not None:
        return limited
    try:
        check_capacity(viewer_count(request.app), cfg.viewers.max_viewers)
    except OfferError as exc:
        return json_error(exc.status, str(exc))
    return await serve_socket_viewer(request, request.app[registry], make)


async def _sfu_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[CONFIG].sfu
    if settings is None:
        yield
        return
    async with running_sfu(settings, app[CONFIG].viewers.broadcaster) as sfu:
        app[SFU] = sfu
        yield


async def _broadcast_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[CONFIG].viewers.broadcaster.run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _close_peers(app: web.Application) -> None:
    viewers = [*app[PEERS], *app[WS_VIEWERS]]
    await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
    await asyncio.gather(*(v.ws.close() for v in app[SFU_VIEWERS]), return_exceptions=True)


def init_app(cfg: ServerConfig) -> web.Application:
    rules = [(path, cfg.token) for path in PROTECTED if cfg.token is not None]
    app = web.Application(client_max_size=MAX_OFFER_BYTES, middlewares=app_middlewares(rules))
    app[CONFIG] = cfg
    app[PEERS] = set()
    app[WS_VIEWERS] = set()
    app[SFU_VIEWERS] = set()
    app.router.add_get("/", index)
    app.router.add_get("/config", config)
    app.router.add_get("/stats", stats)
    app.router.add_post("/offer", offer)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/sfu", sfu_viewer)
    add_client_routes(app, cfg.client_dir)
    app.cleanup_ctx.append(_broadcast_ctx)
    app.cleanup_ctx.append(_sfu_ctx)
    app.on_shutdown.append(_close_peers)
    return app
