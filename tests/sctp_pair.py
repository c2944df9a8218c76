"""Two aiortc peers in one process: over loopback with chosen SCTP packets dropped at the receiver, or over an
emulated path with delay, random loss and a receiver that reports gaps as Chromium does."""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcsctptransport import SackChunk

from rtc.sctp_reassembly import use_unordered_reassembly


async def lossy_pair(drop_every: int, fixed_reassembly: bool = False
                     ) -> tuple[RTCPeerConnection, RTCPeerConnection, Any, list[bytes], list[int]]:
    """Two aiortc peers over loopback; the receiver drops every ``drop_every``-th SCTP packet carrying DATA.

    ``fixed_reassembly``: the receiver uses rtc/sctp_reassembly.py, as our headless viewer does.
    """
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    channel = sender.createDataChannel("points", ordered=False, maxRetransmits=0)
    received: list[bytes] = []
    dropped = [0]
    opened = asyncio.Event()
    channel.on("open", opened.set)

    @receiver.on("datachannel")
    def on_channel(ch: Any) -> None:
        ch.on("message", received.append)

    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    await asyncio.wait_for(opened.wait(), 20)

    sctp = receiver.sctp
    assert sctp is not None
    if fixed_reassembly:
        assert use_unordered_reassembly(sctp)
    handle = sctp._handle_data
    count = [0]

    async def lossy(data: bytes) -> None:
        if len(data) > 12 and data[12] == 0:  # first chunk is DATA (RFC 4960 section 3.2)
            count[0] += 1
            if count[0] % drop_every == 0:
                dropped[0] += 1
                return
        await handle(data)

    sctp._handle_data = lossy
    return sender, receiver, channel, received, dropped


async def send_paced(channel: Any, sctp: Any, payloads: Iterable[bytes]) -> None:
    """Send each payload, keeping aiortc's outbound queue short as our sender does."""
    for payload in payloads:
        while len(sctp._outbound_queue) > 64:
            await asyncio.sleep(0.001)
        channel.send(payload)
        await asyncio.sleep(0)


class EmulatedLink:
    """One direction of an emulated path: every packet delayed by ``delay`` seconds (order kept), a share
    ``loss`` of them dropped at random; replaces an association's ``_handle_data``."""

    def __init__(self, handle: Any, delay: float, loss: float, rng: random.Random) -> None:
        self.handle, self.delay, self.loss, self.rng = handle, delay, loss, rng
        self.dropped = 0
        self._queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self.task = asyncio.create_task(self._pump())

    async def __call__(self, data: bytes) -> None:
        if self.rng.random() < self.loss:
            self.dropped += 1
            return
        self._queue.put_nowait((time.monotonic() + self.delay, data))

    async def _pump(self) -> None:
        while True:
            due, data = await self._queue.get()
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await self.handle(data)


async def emulated_pair(rtt: float, loss: float, max_gap_blocks: int | None, seed: int = 1
                        ) -> tuple[RTCPeerConnection, RTCPeerConnection, Any, list[float], dict[str, int]]:
    """Two aiortc peers over an emulated path (``rtt``, ``loss`` each way) with an unordered, unreliable
    channel. ``max_gap_blocks``: the receiver reports at most that many gap blocks per SACK, as Chromium's
    dcsctp does (``kMaxGapAckBlocksReported = 20``); None: all of them, as aiortc does. Returns the two
    peers, the sender's channel, the arrival time of each message delivered, and counters (``sacks``,
    ``sacks_capped``: SACKs that had more gap blocks than the receiver reported)."""
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    channel = sender.createDataChannel("points", ordered=False, maxRetransmits=0)
    arrivals: list[float] = []
    counters = {"sacks": 0, "sacks_capped": 0}
    opened = asyncio.Event()
    channel.on("open", opened.set)

    @receiver.on("datachannel")
    def on_channel(ch: Any) -> None:
        ch.on("message", lambda _: arrivals.append(time.monotonic()))

    rng = random.Random(seed)
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    sctp, peer_sctp = sender.sctp, receiver.sctp
    assert sctp is not None and peer_sctp is not None
    # delayed from the first SCTP packet, so the RTT estimate is the path's; lossy once the channel is open
    links = [EmulatedLink(peer_sctp._handle_data, rtt / 2, 0.0, rng),
             EmulatedLink(sctp._handle_data, rtt / 2, 0.0, rng)]
    peer_sctp._handle_data, sctp._handle_data = links
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    await asyncio.wait_for(opened.wait(), 20)
    for link in links:
        link.loss = loss
    send_chunk = peer_sctp._send_chunk

    async def capped(chunk: Any) -> None:
        if isinstance(chunk, SackChunk):
            counters["sacks"] += 1
            if max_gap_blocks is not None and len(chunk.gaps) > max_gap_blocks:
                counters["sacks_capped"] += 1
                chunk.gaps = chunk.gaps[:max_gap_blocks]
        await send_chunk(chunk)

    peer_sctp._send_chunk = capped
    return sender, receiver, channel, arrivals, counters
