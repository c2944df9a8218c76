"""Two aiortc peers in one process over loopback, with chosen SCTP packets dropped at the receiver."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection

from stream.reassembly import use_unordered_reassembly


async def lossy_pair(drop_every: int, fixed_reassembly: bool = False
                     ) -> tuple[RTCPeerConnection, RTCPeerConnection, Any, list[bytes], list[int]]:
    """Two aiortc peers over loopback; the receiver drops every ``drop_every``-th SCTP packet carrying DATA.

    ``fixed_reassembly``: the receiver uses stream/reassembly.py, as our headless viewer does.
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
