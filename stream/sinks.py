"""Where a viewer's point chunks go: an RTCDataChannel or a WebSocket, behind one small interface."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from aiohttp import web
from aiortc import RTCDataChannel
from aiortc.exceptions import InvalidStateError

from rtc.sctp_backlog import channel_backlog, channel_round_trip, open_channel_window


class PointSink(Protocol):
    """One viewer's point transport, as the sender sees it."""

    @property
    def is_open(self) -> bool: ...

    def backlog(self) -> int:
        """Bytes accepted but not yet delivered (as far as the sender can tell)."""

    def acknowledged_backlog(self) -> bool:
        """True if ``backlog`` falls only when the viewer acknowledges (so the link can be fitted from it)."""

    def round_trip(self) -> float | None:
        """The transport's smoothed round-trip time, seconds, if it has one."""

    def allow_in_flight(self, nbytes: int) -> None:
        """Let the transport have at least ``nbytes`` unacknowledged (the sender paces and sizes its data)."""

    async def send(self, message: bytes) -> None: ...


class DataChannelSink:
    """An aiortc data channel (the point channel of a WebRTC viewer)."""

    def __init__(self, channel: RTCDataChannel) -> None:
        self.channel = channel

    @property
    def is_open(self) -> bool:
        return self.channel.readyState == "open"

    def backlog(self) -> int:
        """Queued in aiortc or in flight, not only ``bufferedAmount`` (rtc/sctp_backlog.py)."""
        return channel_backlog(self.channel)

    def acknowledged_backlog(self) -> bool:
        return True

    def round_trip(self) -> float | None:
        return channel_round_trip(self.channel)

    def allow_in_flight(self, nbytes: int) -> None:
        open_channel_window(self.channel, nbytes)

    async def send(self, message: bytes) -> None:
        try:
            self.channel.send(message)
        except InvalidStateError:  # the channel closed since the sender last looked
            raise ConnectionError(f"data channel {self.channel.label!r} is {self.channel.readyState}") from None


class WebSocketSink:
    """An aiohttp server WebSocket (the fallback transport: TCP, ordered, reliable).

    A write waits while the client's TCP window is full; one that waits ``send_timeout`` seconds means
    the client is not reading: ``on_stuck`` is told and the send raises ``ConnectionError``."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, send_timeout: float = 15.0,
                 on_stuck: Callable[[str], None] | None = None) -> None:
        self.ws = ws
        self.request = request
        self.send_timeout = send_timeout
        self._on_stuck = on_stuck

    @property
    def is_open(self) -> bool:
        return not self.ws.closed

    def backlog(self) -> int:
        transport = self.request.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def acknowledged_backlog(self) -> bool:
        """No: the kernel's TCP buffer takes megabytes before the write buffer grows."""
        return False

    def round_trip(self) -> float | None:
        return None

    def allow_in_flight(self, nbytes: int) -> None:
        pass

    async def send(self, message: bytes) -> None:
        try:
            await asyncio.wait_for(self.ws.send_bytes(message), self.send_timeout)
        except asyncio.TimeoutError:
            why = f"a point chunk waited {self.send_timeout:.0f} s to be written"
            if self._on_stuck is not None:
                self._on_stuck(why)
            raise ConnectionError(why) from None
