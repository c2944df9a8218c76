"""A viewer whose signaling and control come over a WebSocket (the fallback transport, or the SFU's socket):
the socket opened, the viewer registered while it is served, and what it held released when it leaves."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from viewers.memory import release_soon

logger = logging.getLogger(__name__)


async def serve_socket_viewer(request: web.Request, registry: set[Any],
                              make: Callable[[web.WebSocketResponse], Any]) -> web.WebSocketResponse:
    """Upgrade ``request``, make its viewer (with ``label`` and ``serve()``), keep it in ``registry`` until it
    leaves. The caller has checked the limits."""
    ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=64 * 1024)
    await ws.prepare(request)
    viewer = make(ws)
    registry.add(viewer)
    logger.info("%s: connected from %s", viewer.label, request.remote)
    try:
        await viewer.serve()
    finally:
        registry.discard(viewer)
        release_soon()
    return ws
