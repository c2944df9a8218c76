"""The headless viewer through the SFU (a streamer run with ``--sfu janus``), as the page does it
(client/src/sfu.js): signaling and control over the WebSocket ``/sfu``, points from Janus on a data
channel this viewer opens under the label Janus sends on, unordered and without retransmissions."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from rtc.ice_path import selected_path
from rtc.sctp_reassembly import use_unordered_reassembly
from signaling.ice import rtc_configuration
from stream.messages import SFU_DROPPED, SenderStatsMessage, SfuAnswer, SfuOffer, SfuTier, ViewerStats, encode

from .assembler import AssembledFrame
from .receiver import MAX_SERVER_CONTROL, ReceiverOptions, WebSocketReceiver, parse_control

logger = logging.getLogger(__name__)


class SfuReceiver(WebSocketReceiver):
    """A WebSocket viewer whose socket carries signaling and control only; the points come over WebRTC."""

    transport = "sfu"

    def __init__(self, base_url: str, options: ReceiverOptions = ReceiverOptions(),
                 on_frame: Callable[[AssembledFrame], None] | None = None, token: str | None = None) -> None:
        super().__init__(base_url, options, on_frame, token)
        self._pc: RTCPeerConnection | None = None
        self._rtc: RTCConfiguration | None = None
        """The ICE configuration from the server's /config."""
        # as the page behind an SFU: frames captured too long ago are skipped (Janus never drops)
        self.assembler.server_now = lambda: time.time() + self.clock.offset if self.clock.best else None
        self.points: RTCDataChannel | None = None
        self.tiers: list[dict[str, Any]] = []
        """The ``sfuTier`` messages received: each move between tiers."""
        self._reported = 0
        self.reconnects = 0
        """Times the server dropped this viewer for falling behind and it came back, as the page does."""
        self._closing = False

    async def _open(self) -> None:
        self._http = aiohttp.ClientSession(headers=self._headers)
        async with self._http.get(f"{self.base_url}/config") as resp:
            if resp.status != 200:
                raise ConnectionError(f"/config refused ({resp.status}): {await resp.text()}")
            config = await resp.json()
        if not config.get("sfu"):
            raise ConnectionError("this streamer runs without an SFU")
        self._rtc = rtc_configuration(config)
        self._ws = await self._http.ws_connect(self._socket_url("/sfu"), max_msg_size=MAX_SERVER_CONTROL)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            message = parse_control(msg.data) if msg.type == aiohttp.WSMsgType.TEXT else None
            if message is None:
                continue
            if message["type"] == SfuOffer.type:
                await self._answer(message)
            elif message["type"] == SfuTier.type:
                self.tiers.append(message)
            else:
                self._on_message(message)
                if message["type"] == SenderStatsMessage.type:
                    self._report()
        if self._ws.close_code == SFU_DROPPED and not self._closing:
            await self._reconnect()
            return
        self.state.ended = True
        self._frame_event.set()

    async def _answer(self, offer: dict[str, Any]) -> None:
        self._pc = pc = RTCPeerConnection(self._rtc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        self.points = pc.createDataChannel(offer["label"], ordered=self.options.ordered,
                                           maxRetransmits=self.options.max_retransmits)
        self.points.on("message", self._on_points)
        use_unordered_reassembly(pc.sctp)
        await pc.setLocalDescription(await pc.createAnswer())
        self._send_text(encode(SfuAnswer(pc.localDescription.sdp)))

    def _report(self) -> None:
        """Answer the server's senderStats as the page does: the median latency of the frames since the last
        report (the server moves a viewer whose frames arrive late to a smaller tier)."""
        recent = sorted(r.latency for r in self.state.records[self._reported:])
        self._reported = len(self.state.records)
        latency = round(1000 * recent[len(recent) // 2], 1) if recent else None
        self._send_text(encode(ViewerStats({"latencyMs": latency, "framesDrawn": len(self.state.records)})))

    async def _reconnect(self) -> None:
        """Dropped for falling behind (what Janus queued for it is gone with its session): come back at once,
        as the page does, on the smallest tier."""
        self.reconnects += 1
        if self._pc is not None:
            await self._pc.close()
        if self._http is not None:
            await self._http.close()
        self.assembler.flush()
        try:
            await self._open()
        except (OSError, aiohttp.ClientError, ConnectionError) as exc:
            logger.warning("sfu viewer: reconnect failed: %s", exc)
            self.state.ended = True
            self._frame_event.set()

    def path(self) -> dict[str, Any] | None:
        return selected_path(self._pc) if self._pc is not None else None

    async def _close_transport(self) -> None:
        self._closing = True
        if self._pc is not None:
            await self._pc.close()
        await super()._close_transport()
