"""What every viewer gets, whatever its transport: hello, its sender, control messages, periodic stats."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from stream.messages import (End, Hello, Pause, Ping, Pong, Resume, SenderStatsMessage, ViewerMessage, ViewerStats,
                             encode, parse_viewer_message)
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
        self.sender = ViewerSender(sink, settings.broadcaster, settings.pacing, label, settings.fit)
        self.viewer_stats: dict[str, Any] = {}
        self.control_errors = 0
        self.last_heard = time.monotonic()
        """When the viewer last sent a control message (good or bad), monotonic seconds."""
        self._send_control = send_control
        self._handlers: dict[type, Callable[[Any], None]] = {
            Ping: self._on_ping, ViewerStats: self._on_viewer_stats, Pause: self._on_pause, Resume: self._on_resume}

    async def run(self, viewer: int, transport: str, points_channel: dict[str, Any] | None = None) -> None:
        """Say hello, then stream until the sink closes or the stream ends. Cancel to stop."""
        self._send(Hello(**self.settings.broadcaster.metadata(), viewer=viewer, transport=transport,
                         points_channel=points_channel))
        reporter = asyncio.create_task(self._report_stats())
        try:
            with self.settings.broadcaster.watching() as watch:
                self.sender.watch = watch  # the sender says how much of each frame it takes
                await self.sender.run()
            if self.settings.broadcaster.finished:
                self._send(End(**self._counters()))
        finally:
            reporter.cancel()

    def _send(self, message: Any) -> None:
        self._send_control(encode(message))

    def _counters(self) -> dict[str, int]:
        return dict(vars(self.sender.stats))

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval)
            self._send(SenderStatsMessage(**self._counters(), server_time=time.time()))

    def on_control(self, raw: str | bytes) -> None:
        """A control message from the viewer: handled, or ignored and counted (and never raising)."""
        self.last_heard = time.monotonic()
        try:
            message: ViewerMessage = parse_viewer_message(raw)
        except ValueError as exc:
            self.control_errors += 1
            logger.debug("%s: ignored control message: %s", self.label, exc)
            return
        handler = self._handlers.get(type(message))
        if handler is None:  # a message of another transport (sfuAnswer on a direct connection)
            self.control_errors += 1
            logger.debug("%s: ignored %s: not for this transport", self.label, message.type)
            return
        handler(message)

    def _on_ping(self, ping: Ping) -> None:
        self._send(Pong(ping.id, ping.t0, time.time()))

    def _on_viewer_stats(self, stats: ViewerStats) -> None:
        self.viewer_stats = stats.fields
        self.sender.viewer_report(stats.fields)

    def _on_pause(self, _: Pause) -> None:
        self.sender.paused = True
        logger.info("%s: paused", self.label)

    def _on_resume(self, _: Resume) -> None:
        self.sender.paused = False
        logger.info("%s: resumed", self.label)
