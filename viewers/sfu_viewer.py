"""A viewer served through the SFU: its signaling and control over one WebSocket (``/sfu``), its points
from Janus.

On connect the server gives the viewer a token of its own (added to Janus through the admin API, removed
when the viewer leaves), opens a Janus session with it, asks the Streaming plugin to watch the first tier
and sends the viewer Janus's offer (``sfuOffer``). The viewer answers (``sfuAnswer``), opening the point
channel itself so that it is unordered and unreliable. Then the socket carries the usual control
vocabulary: ``hello``, ``ping``/``pong``, ``senderStats``/``viewerStats``, and ``sfuTier`` when the
viewer is moved. The viewer leaving (the socket closing) ends its Janus session.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from sfu.janus_api import JanusError, StreamingViewer
from sfu.service import DATA_CHANNEL_LABEL, Sfu
from sfu.tiers import TierChoice
from stream.messages import (SFU_DROPPED, Hello, Pause, Ping, Pong, Resume, SenderStatsMessage, SfuAnswer, SfuOffer,
                             SfuTier, ViewerStats, encode, parse_viewer_message)


logger = logging.getLogger(__name__)

_ids = itertools.count(1)


class SfuViewer:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, metadata: Callable[[], dict[str, Any]],
                 sfu: Sfu, stats_interval: float = 1.0) -> None:
        """``metadata``: the stream's hello fields (a broadcaster's, or a published stream's as its ingest got
        them)."""
        self.ws = ws
        self.metadata = metadata
        self.stats_interval = stats_interval
        self.sfu = sfu
        self.id = next(_ids)
        self.label = f"sfu-viewer-{self.id}"
        self.remote = request.remote
        self.token = secrets.token_urlsafe(18)
        self.janus = StreamingViewer(sfu.http, sfu.api_url, self.token)
        self.choice = TierChoice(sfu.settings.janus.tiers, sfu.settings.policy)
        self.viewer_stats: dict[str, Any] = {}
        self.control_errors = 0
        self.started = False
        self.queued: int | None = None
        self.last_heard = time.monotonic()
        self.reports = 0
        """viewerStats received; each is acted on once."""

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "transport": "sfu", "remote": self.remote,
                "tier": self.choice.tier.mountpoint, "share": self.choice.tier.share, "janusQueued": self.queued,
                "viewerStats": self.viewer_stats, "controlErrors": self.control_errors}

    async def _send(self, message: Any) -> None:
        if not self.ws.closed:
            await self.ws.send_str(encode(message))

    async def serve(self) -> None:
        """Set the viewer up at Janus, then handle its messages until it leaves. Cleans up whatever happens."""
        watcher: asyncio.Task[None] | None = None
        try:
            await self.sfu.admin.add_token(self.token)
            await self.janus.open()
            offer = await self.janus.watch(self.choice.tier.mountpoint)
            tier = self.choice.tier
            await self._send(SfuOffer(offer["sdp"], DATA_CHANNEL_LABEL, tier.mountpoint, tier.share))
            watcher = asyncio.create_task(self._watch())
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self._on_control(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    self.control_errors += 1
        except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning("%s: Janus: %s", self.label, exc)
            await self.ws.close(code=1011, message=b"SFU unavailable")
        finally:
            if watcher:
                watcher.cancel()
            await self.janus.close()
            try:
                await self.sfu.admin.remove_token(self.token)
            except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                logger.debug("%s: token removal: %s", self.label, exc)
            logger.info("%s: left", self.label)

    async def _on_control(self, text: str) -> None:
        self.last_heard = time.monotonic()
        try:
            message = parse_viewer_message(text)
        except ValueError as exc:
            self.control_errors += 1
            logger.debug("%s: ignored control message: %s", self.label, exc)
            return
        if isinstance(message, SfuAnswer):
            if self.started:
                self.control_errors += 1
                return
            await self.janus.start({"sdp": message.sdp})
            self.started = True
            await self._send(Hello(**self.metadata(), viewer=self.id, transport="sfu"))
        elif isinstance(message, Ping):
            await self._send(Pong(message.id, message.t0, time.time()))
        elif isinstance(message, ViewerStats):
            self.viewer_stats = message.fields
            self.reports += 1
        elif isinstance(message, Pause):
            await self.janus.pause()
        elif isinstance(message, Resume):
            await self.janus.resume()

    async def _watch(self) -> None:
        """Once a second: ask for the viewer's report, read its queue at Janus, and move or drop it."""
        acted_on = 0
        while True:
            await asyncio.sleep(self.stats_interval)
            if not self.started:
                continue
            tier = self.choice.tier
            await self._send(SenderStatsMessage(fitted_share=tier.share, server_time=time.time()))
            try:
                info = await self.sfu.admin.handle_info(self.janus.session, self.janus.handle)
                self.queued = int(info.get("queued-packets", 0))
            except (JanusError, aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                logger.debug("%s: handle_info: %s", self.label, exc)
                self.queued = None
            latency = self.viewer_stats.get("latencyMs") if self.reports > acted_on else None
            latency = latency.get("p50") if isinstance(latency, dict) else latency
            acted_on = self.reports
            now = time.monotonic()
            silent = now - self.last_heard
            reason = self.choice.update(now, self.queued, latency if isinstance(latency, (int, float)) else None)
            if reason == "drop" or silent > self.choice.policy.silence:
                why = (f"silent for {silent:.0f} s" if reason != "drop" else
                       f"{latency} ms behind, {self.queued} packets queued at Janus")
                logger.warning("%s: %s: disconnected (Janus keeps what it queued for a viewer until it leaves)",
                               self.label, why)
                await self.ws.close(code=SFU_DROPPED, message=b"too far behind: reconnect")
                return
            if reason:
                try:
                    await self.janus.switch(self.choice.tier.mountpoint)
                except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    logger.warning("%s: Janus refused the move to tier %d: %s", self.label,
                                   self.choice.tier.mountpoint, exc)
                    await self.ws.close(code=1011, message=b"SFU unavailable")
                    return
                logger.info("%s: moved to tier %d (%g of each frame): %s", self.label, self.choice.tier.mountpoint,
                            self.choice.tier.share, reason)
                await self._send(SfuTier(self.choice.tier.mountpoint, self.choice.tier.share, reason))
