"""aiohttp application: serves the client, its ICE configuration, and answers WebRTC offers."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from stream.broadcaster import FrameBroadcaster
from stream.congestion import LossToleranceOptions
from stream.sender import PacingOptions

from .peer import ViewerPeer
from .websocket import WebSocketViewer

logger = logging.getLogger(__name__)

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"
MAX_OFFER_BYTES = 64 * 1024


@dataclass
class ServerConfig:
    """Everything the signaling app needs; built by server.py from the command line."""

    broadcaster: FrameBroadcaster
    """The running stream every viewer is fed from."""
    ice_servers: list[RTCIceServer] = field(default_factory=list)
    """ICE servers for both ends. Empty by default: nothing outside is contacted unless configured."""
    pacing: PacingOptions = field(default_factory=PacingOptions)
    loss_tolerance: LossToleranceOptions | None = field(default_factory=LossToleranceOptions)
    """Congestion response of unreliable point channels to random loss; None = standard SCTP."""
    client_dir: Path = CLIENT_DIR
    connect_timeout: float = 30.0
    """Seconds a peer may take to connect before it is closed."""


CONFIG = web.AppKey("config", ServerConfig)
PEERS = web.AppKey("peers", set[ViewerPeer])
WS_VIEWERS = web.AppKey("ws_viewers", set[WebSocketViewer])


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def ice_servers_json(servers: list[RTCIceServer]) -> list[dict[str, Any]]:
    out = []
    for server in servers:
        entry: dict[str, Any] = {"urls": server.urls}
        if server.username:
            entry["username"] = server.username
            entry["credential"] = server.credential
        out.append(entry)
    return out


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(request.app[CONFIG].client_dir / "index.html",
                            headers={"Cache-Control": "no-cache"})


async def config(request: web.Request) -> web.Response:
    return web.json_response({"iceServers": ice_servers_json(request.app[CONFIG].ice_servers)})


async def stats(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    b = cfg.broadcaster
    return web.json_response({
        "broadcast": dict(b.stats.__dict__),
        "finished": b.finished,
        "viewers": [v.describe() for v in (*request.app[PEERS], *request.app[WS_VIEWERS])],
    })


async def offer(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return json_error(415, "send the offer as application/json")
    if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
        return json_error(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
    try:
        body = await request.content.read(MAX_OFFER_BYTES + 1)
        if len(body) > MAX_OFFER_BYTES:
            return json_error(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
        params = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return json_error(400, "body is not valid JSON")
    if not isinstance(params, dict):
        return json_error(400, "body must be a JSON object with 'sdp' and 'type'")
    sdp, kind = params.get("sdp"), params.get("type")
    if kind != "offer":
        return json_error(400, "'type' must be \"offer\"")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        return json_error(400, "'sdp' must be an SDP session description starting with v=0")
    if "m=application" not in sdp:
        return json_error(400, "the offer has no data channel (m=application section)")

    cfg = request.app[CONFIG]
    peers = request.app[PEERS]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=list(cfg.ice_servers)))
    peer = ViewerPeer(pc, cfg.broadcaster, cfg.pacing, cfg.broadcaster.metadata(), peers.discard,
                      cfg.connect_timeout, loss_tolerance=cfg.loss_tolerance)
    peers.add(peer)
    try:
        answer = await peer.answer(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:  # aiortc raises ValueError and friends for SDP it cannot use
        logger.info("rejected offer from %s: %s", request.remote, exc)
        await peer.close()
        return json_error(400, f"could not use the offer: {exc}")
    logger.info("%s: answered offer from %s", peer.label, request.remote)
    return web.json_response({"sdp": answer.sdp, "type": answer.type})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=64 * 1024)
    await ws.prepare(request)
    cfg = request.app[CONFIG]
    viewer = WebSocketViewer(ws, request, cfg.broadcaster, cfg.pacing)
    request.app[WS_VIEWERS].add(viewer)
    logger.info("%s: connected from %s", viewer.label, request.remote)
    try:
        await viewer.serve(cfg.broadcaster.metadata())
    finally:
        request.app[WS_VIEWERS].discard(viewer)
    return ws


async def _broadcast_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[CONFIG].broadcaster.run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _close_peers(app: web.Application) -> None:
    viewers = [*app[PEERS], *app[WS_VIEWERS]]
    await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)


def init_app(cfg: ServerConfig) -> web.Application:
    app = web.Application(client_max_size=MAX_OFFER_BYTES)
    app[CONFIG] = cfg
    app[PEERS] = set()
    app[WS_VIEWERS] = set()
    app.router.add_get("/", index)
    app.router.add_get("/config", config)
    app.router.add_get("/stats", stats)
    app.router.add_post("/offer", offer)
    app.router.add_get("/ws", websocket)
    client = cfg.client_dir
    app.router.add_static("/src/", client / "src")
    for optional, prefix in ((client / "node_modules" / "three", "/vendor/three/"), (client / "build", "/build/")):
        if optional.is_dir():
            app.router.add_static(prefix, optional)
        else:
            logger.warning("%s is missing: run scripts/setup.sh (npm ci) before opening the viewer", optional)
    app.cleanup_ctx.append(_broadcast_ctx)
    app.on_shutdown.append(_close_peers)
    return app
