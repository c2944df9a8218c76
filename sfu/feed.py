"""The streamer's side of the SFU: every frame goes to Janus once, as UDP datagrams, one per chunk.

Each tier's mountpoint gets the first ``share`` of the frame's chunks (a prefix of the progressive send
order, so any tier covers the whole scene), with ``chunks_sent`` saying how many. Janus relays each
datagram to every viewer of that mountpoint as one data-channel message: what the streamer sends does
not grow with the audience.

The datagrams of a frame are paced over ``spread`` of the frame interval: a burst of a whole frame
overflows a socket's receive buffer on the way into Janus (measured: 40 of 224 datagrams lost when sent
at once, none when paced in bursts of 8).
"""
from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from stream.broadcaster import FrameBroadcaster
from stream.encoder import EncodedFrame
from stream.protocol import with_chunks_sent

from .janus import MAX_DATAGRAM, Tier

logger = logging.getLogger(__name__)

BURST = 8
"""Datagrams sent back to back before the feed yields for the pacing interval."""


@dataclass
class FeedStats:
    frames_sent: int = 0
    datagrams_sent: int = 0
    bytes_sent: int = 0
    oversize_refused: int = 0
    """Chunks never sent because they were longer than a datagram Janus reads whole (MAX_DATAGRAM)."""


def tier_count(share: float, total: int) -> int:
    """How many of ``total`` chunks (the first, in send order) a tier of ``share`` gets: at least one."""
    return min(total, max(1, math.ceil(share * total)))


def tier_messages(frame: EncodedFrame, share: float) -> list[bytes]:
    """The first ``share`` of the frame's chunks in send order (at least one), saying how many were sent."""
    total = len(frame.messages)
    sent = tier_count(share, total)
    if sent == total:
        return list(frame.messages)
    return [with_chunks_sent(m, sent) for m in frame.messages[:sent]]


class DatagramSender(asyncio.DatagramProtocol):
    def error_received(self, exc: Exception) -> None:
        logger.debug("feed datagram error: %s", exc)


class JanusFeed:
    """Sends every new frame of ``broadcaster`` to the tiers' mountpoints at ``host``."""

    def __init__(self, broadcaster: FrameBroadcaster, tiers: tuple[Tier, ...], host: str,
                 spread: float = 0.5) -> None:
        self.broadcaster = broadcaster
        self.tiers = tiers
        self.host = host
        self.spread = spread
        self.stats = FeedStats()

    async def run(self) -> None:
        """Feed frames until the stream ends. Cancel to stop."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(DatagramSender, family=2)
        interval = 1.0 / self.broadcaster.fps
        last: int | None = None
        watch = self.broadcaster.watching()  # Janus's viewers come and go unseen here: always watched
        try:
            while (frame := await self.broadcaster.wait_newer(last)) is not None:
                last = frame.frame_id
                batches = [(m, (self.host, tier.data_port)) for tier in self.tiers
                           for m in tier_messages(frame, tier.share)]
                await self._send(transport, batches, self.spread * interval)
                self.stats.frames_sent += 1
        finally:
            watch.release()
            transport.close()

    async def _send(self, transport: asyncio.DatagramTransport, datagrams: list[tuple[bytes, tuple[str, int]]],
                    within: float) -> None:
        pause = within / max(1, math.ceil(len(datagrams) / BURST))
        for start in range(0, len(datagrams), BURST):
            for message, address in datagrams[start:start + BURST]:
                if len(message) > MAX_DATAGRAM:
                    self.stats.oversize_refused += 1
                    if self.stats.oversize_refused == 1:
                        logger.error("a %d-byte chunk is longer than Janus reads (%d): not sent; the streamer "
                                     "must run with --chunk-packets 1 behind an SFU", len(message), MAX_DATAGRAM)
                    continue
                transport.sendto(message, address)
                self.stats.datagrams_sent += 1
                self.stats.bytes_sent += len(message)
            await asyncio.sleep(pause)
