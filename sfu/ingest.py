"""A published stream taken in by the rendezvous server and fed to Janus (``server.py signal --sfu janus``).

The rendezvous server connects to the publisher as one more viewer would: it sends an offer through the
publisher's signaling WebSocket, with a ``control`` channel and an unordered, unreliable ``points``
channel. The publisher streams to it as to any viewer, fitted to its uplink, and hears from it as from
any viewer (a ping a second on the control channel: a streamer closes a viewer silent for 15 s). Every
chunk that arrives goes on to Janus's tier mountpoints on loopback, with no decoding: a tier gets the
chunks whose place in the send order is within its share of the chunks the publisher sent
(``chunksSent`` rewritten). So the publisher's uplink carries one stream whatever the audience. A relay
node (signaling/upstream.py) takes its stream from a streamer the same way.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from rtc.sctp_reassembly import use_unordered_reassembly
from stream.messages import Ping, encode
from stream.protocol import decode_header, with_chunks_sent
from stream.untrusted_json import loads_bounded

from .feed import DatagramSender, tier_count
from .janus import MAX_DATAGRAM, Tier

logger = logging.getLogger(__name__)

MAX_CONTROL_TEXT = 64 * 1024
"""Longest control message taken from the publisher (as a viewer takes from its streamer)."""

PING_INTERVAL = 1.0
"""Seconds between the pings that tell the publisher this viewer is alive (a viewer's rate)."""

HELLO_FIELDS = {"source": "source", "frames": "frames", "fps": "fps", "encoding": "encoding",
                "quantizeMm": "quantize_mm"}
"""The publisher's hello fields its SFU viewers' hello repeats (wire name → field name)."""


@dataclass
class IngestStats:
    chunks_received: int = 0
    bad_chunks: int = 0
    oversize_refused: int = 0
    datagrams_sent: int = 0


class Ingest:
    """``await ingest.connect(answer_for)``, then chunks flow to the tiers until ``close()``."""

    def __init__(self, name: str, tiers: tuple[Tier, ...], host: str, rtc: RTCConfiguration) -> None:
        self.name = name
        self.tiers = tiers
        self.host = host
        self.rtc = rtc
        self.stats = IngestStats()
        self.metadata: dict[str, Any] = {}
        """The publisher's hello (source, fps, encoding...), for the hello of each SFU viewer."""
        self.connected = asyncio.Event()
        self.lost = asyncio.Event()
        """Set when the connection to the publisher failed or closed (a relay node then connects again)."""
        self._pc: RTCPeerConnection | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._pinger: asyncio.Task[None] | None = None

    async def connect(self, answer_for: Callable[[str], Awaitable[str]]) -> None:
        """Offer to the publisher (``answer_for`` relays an offer and returns its answer) and start feeding."""
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(DatagramSender, family=2)
        self._pc = pc = RTCPeerConnection(self.rtc)
        control = pc.createDataChannel("control")
        points = pc.createDataChannel("points", ordered=False, maxRetransmits=0)
        points.on("message", self._on_points)
        control.on("message", self._on_control)
        control.on("open", lambda: self._start_pings(control))
        control.on("close", self.lost.set)
        pc.on("connectionstatechange", lambda: pc.connectionState in ("failed", "closed") and self.lost.set())
        use_unordered_reassembly(pc.sctp)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await answer_for(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    def _start_pings(self, control: Any) -> None:
        async def ping() -> None:
            for n in itertools.count():
                if control.readyState != "open":
                    return
                control.send(encode(Ping(n, time.time())))
                await asyncio.sleep(PING_INTERVAL)

        self._pinger = asyncio.ensure_future(ping())

    def _on_control(self, text: object) -> None:
        try:
            message = loads_bounded(text, MAX_CONTROL_TEXT, "publisher's control message") \
                if isinstance(text, str) else None
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("type") == "hello":
            self.metadata = {field: message[wire] for wire, field in HELLO_FIELDS.items() if wire in message}
            self.connected.set()
            logger.info("stream %r: taken in for the SFU: %s", self.name, self.metadata.get("source"))

    def _on_points(self, message: object) -> None:
        if not isinstance(message, bytes):
            self.stats.bad_chunks += 1
            return
        try:
            header = decode_header(message)
        except ValueError:
            self.stats.bad_chunks += 1
            return
        self.stats.chunks_received += 1
        if len(message) > MAX_DATAGRAM:
            self.stats.oversize_refused += 1
            if self.stats.oversize_refused == 1:
                logger.error("stream %r: a %d-byte chunk is longer than Janus reads (%d): the publisher must run "
                             "with --chunk-packets 1", self.name, len(message), MAX_DATAGRAM)
            return
        assert self._transport is not None
        for tier in self.tiers:
            sent = tier_count(tier.share, header.chunks_sent)
            if header.chunk_index < sent:
                out = message if sent == header.chunks_sent else with_chunks_sent(message, sent)
                self._transport.sendto(out, (self.host, tier.data_port))
                self.stats.datagrams_sent += 1

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        if self._pc is not None:
            await self._pc.close()
        if self._transport is not None:
            self._transport.close()
