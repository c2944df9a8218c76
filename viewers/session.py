"""What every viewer gets, whatever its transport: hello, its sender, control messages, periodic stats."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from stream.control import encode_control, parse_control
from stream.sender import ViewerSender
from stream.sinks import PointSink

from .settings import ViewerSettings

logger = logging.getLogger(__name__)


class ViewerSession:
    """Runs one viewer's stream over ``sink``; control text goes out through ``send_control``."""

    def __init__(self, label: str, sink: PointSink, send_control: Callable[[str], None],
                 settings: ViewerSettings) -> None:
        self.label = label
        self.settings = settings
        self.sender = ViewerSender(sink, settings.broadcaster, settings.pacing, label)
        self.viewer_stats: dict[str, Any] = {}
        self.control_errors = 0
        self.last_heard = time.monotonic()
        """When the viewer last sent a control message (good or bad), monotonic seconds."""
        self._send_control = send_control

    async def run(self, about_viewer: dict[str, Any]) -> None:
        """Say hello (the stream's metadata and ``about_viewer``), then stream until the sink closes or the
        stream ends. Cancel to stop."""
        broadcaster = self.settings.broadcaster
        self._send_control(encode_control("hello", **broadcaster.metadata(), **about_viewer))
        reporter = asyncio.create_task(self._report_stats())
        try:
            await self.sender.run()
            if broadcaster.finished:
                self._send_control(encode_control("end", **self.sender.stats.as_dict()))
        finally:
            reporter.cancel()

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval)
            self._send_control(encode_control("stats", serverTime=time.time(), **self.sender.stats.as_dict()))

    def on_control(self, raw: str | bytes) -> None:
        self.last_heard = time.monotonic()
        try:
            message = parse_control(raw)
        except ValueError as exc:
            self.control_errors += 1
            logger.debug("%s: ignored control message: %s", self.label, exc)
            return
        kind = message["type"]
        if kind == "ping":
            ping_id, t0 = message.get("id"), message.get("t0")
            if not (_echoable(ping_id) and (t0 is None or _number(t0))):
                self.control_errors += 1  # a pong echoes these: they must stay small
                logger.debug("%s: ignored a ping with an id or t0 it cannot echo", self.label)
                return
            self._send_control(encode_control("pong", id=ping_id, t0=t0, serverTime=time.time()))
        elif kind == "stats":
            self.viewer_stats = {k: v for k, v in message.items() if k != "type"}
            logger.debug("%s: viewer stats %s", self.label, json.dumps(self.viewer_stats))
        elif kind in ("pause", "resume"):
            self.sender.paused = kind == "pause"
            logger.info("%s: %s", self.label, "paused" if self.sender.paused else "resumed")


MAX_ECHOED_ID = 64
"""Characters of a ping's string id that a pong echoes; a longer one is refused (docs/protocol.md)."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _echoable(value: Any) -> bool:
    """A ping id a pong may echo: absent, a number, or a short string."""
    return value is None or _number(value) or (isinstance(value, str) and len(value) <= MAX_ECHOED_ID)
