"""``GET /ws``: the same chunks and control messages over a WebSocket (TCP), for networks that block
UDP and for comparison in the benchmark. Binary messages are point chunks, text messages are the
control messages of docs/protocol.md, in both directions."""
from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from typing import Any

from aiohttp import WSMsgType, web

from stream.sinks import WebSocketSink
from stream.tasks import TaskSet

from .outbox import Outbox
from .session import ViewerSession
from .settings import ViewerSettings

logger = logging.getLogger(__name__)
_ids = itertools.count(1)


class WebSocketViewer:
    """One viewer connected over a WebSocket; registered in the app's viewer set while connected."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, settings: ViewerSettings) -> None:
        self.id = next(_ids)
        self.label = f"ws-viewer-{self.id}"
        self.ws = ws
        self._request = request
        # TCP paces itself (congestion control) and loses nothing to bursts: send as fast as it takes them
        tcp = replace(settings, pacing=replace(settings.pacing, spread=0.0))
        sink = WebSocketSink(ws, request, send_timeout=settings.outbox.max_wait, on_stuck=self._cut_off)
        self.session = ViewerSession(self.label, sink, self._send_control, tcp)
        self.outbox = Outbox(ws.send_str, self._cut_off, self.label, settings.outbox)
        self._tasks = TaskSet(self.label)

    def _send_control(self, text: str) -> None:
        if not self.ws.closed:
            self.outbox.put(text)

    def _cut_off(self, why: str) -> None:
        """The client does not read what it is sent: drop the connection and what waits for it, now."""
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    async def serve(self) -> None:
        self._tasks.spawn(self.outbox.run())
        self._tasks.spawn(self.session.run(self.id, "websocket"))
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    self.session.on_control(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.session.control_errors += 1
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            await self._tasks.close()
            logger.info("%s: closed (%s)", self.label, self.session.sender.stats.as_dict())

    async def close(self) -> None:
        await self.ws.close()

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "transport": "websocket", "state": "closed" if self.ws.closed else "connected",
                "sender": self.session.sender.stats.as_dict(), "paused": self.session.sender.paused,
                "viewer": self.session.viewer_stats,
                "controlErrors": self.session.control_errors}
