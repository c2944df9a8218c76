"""One viewer's aiortc peer connection: its channels, its sender, its control messages, its end."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from stream.broadcaster import FrameBroadcaster
from stream.control import encode_control, parse_control
from stream.sender import PacingOptions, ViewerSender

logger = logging.getLogger(__name__)

POINTS_LABEL = "points"
CONTROL_LABEL = "control"
_ids = itertools.count(1)


class ViewerPeer:
    """Owns one RTCPeerConnection. Closes itself when the connection fails, closes, or never connects."""

    def __init__(self, pc: RTCPeerConnection, broadcaster: FrameBroadcaster, pacing: PacingOptions,
                 hello: dict[str, Any], on_closed: Callable[[ViewerPeer], None],
                 connect_timeout: float = 30.0, stats_interval: float = 1.0) -> None:
        self.id = next(_ids)
        self.label = f"viewer-{self.id}"
        self.pc = pc
        self.broadcaster = broadcaster
        self.pacing = pacing
        self.hello = hello
        self.points: RTCDataChannel | None = None
        self.control: RTCDataChannel | None = None
        self.sender: ViewerSender | None = None
        self.viewer_stats: dict[str, Any] = {}
        self.control_errors = 0
        self.created = time.monotonic()
        self._on_closed = on_closed
        self._stats_interval = stats_interval
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_state)
        self._spawn(self._connect_watchdog(connect_timeout))

    # ----------------------------------------------------------------- lifecycle
    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        await self.pc.setRemoteDescription(offer)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        await self.pc.close()
        logger.info("%s: closed (%s)", self.label, self.sender.stats.as_dict() if self.sender else "never streamed")
        self._on_closed(self)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_watchdog(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
        if self.pc.connectionState != "connected":
            logger.warning("%s: not connected after %.0f s, closing", self.label, timeout)
            await self.close()

    def _on_state(self) -> None:
        state = self.pc.connectionState
        logger.info("%s: connection %s", self.label, state)
        if state in ("failed", "closed"):
            self._spawn(self.close())

    # ----------------------------------------------------------------- channels
    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label == POINTS_LABEL and self.points is None:
            self.points = channel
            logger.info("%s: points channel ordered=%s maxRetransmits=%s maxPacketLifeTime=%s", self.label,
                        channel.ordered, channel.maxRetransmits, channel.maxPacketLifeTime)
            channel.on("close", lambda: self._spawn(self.close()))
        elif channel.label == CONTROL_LABEL and self.control is None:
            self.control = channel
            channel.on("message", self._on_control)
        else:
            logger.warning("%s: unexpected data channel %r closed", self.label, channel.label)
            channel.close()
            return
        if channel.readyState == "open":
            self._maybe_start()
        else:
            channel.on("open", self._maybe_start)

    def _maybe_start(self) -> None:
        if self.sender is not None or self.points is None or self.control is None:
            return
        if self.points.readyState != "open" or self.control.readyState != "open":
            return
        self.sender = ViewerSender(self.points, self.broadcaster, self.pacing, self.label)
        channel_info = {"ordered": self.points.ordered, "maxRetransmits": self.points.maxRetransmits,
                        "maxPacketLifeTime": self.points.maxPacketLifeTime}
        self._send_control(encode_control("hello", **self.hello, viewer=self.id, pointsChannel=channel_info))
        self._spawn(self._run_sender(self.sender))
        self._spawn(self._report_stats())

    async def _run_sender(self, sender: ViewerSender) -> None:
        await sender.run()
        if self.broadcaster.finished:
            self._send_control(encode_control("end", **sender.stats.as_dict()))

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(self._stats_interval)
            if self.sender is not None:
                self._send_control(encode_control("stats", serverTime=time.time(), **self.sender.stats.as_dict()))

    def _send_control(self, text: str) -> None:
        if self.control is not None and self.control.readyState == "open":
            self.control.send(text)

    def _on_control(self, raw: str | bytes) -> None:
        try:
            message = parse_control(raw)
        except ValueError as exc:
            self.control_errors += 1
            logger.debug("%s: ignored control message: %s", self.label, exc)
            return
        kind = message["type"]
        if kind == "ping":
            self._send_control(encode_control("pong", id=message.get("id"), t0=message.get("t0"),
                                              serverTime=time.time()))
        elif kind == "stats":
            self.viewer_stats = {k: v for k, v in message.items() if k != "type"}
            logger.debug("%s: viewer stats %s", self.label, json.dumps(self.viewer_stats))
        elif kind in ("pause", "resume") and self.sender is not None:
            self.sender.paused = kind == "pause"
            logger.info("%s: %s", self.label, "paused" if self.sender.paused else "resumed")

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.pc.connectionState,
                "sender": self.sender.stats.as_dict() if self.sender else None,
                "viewer": self.viewer_stats, "controlErrors": self.control_errors}
