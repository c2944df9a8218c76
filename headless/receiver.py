"""Headless Python viewer (aiortc): connects like the browser client does, reassembles frames,
estimates the clock offset and records per-frame latency. Used by tests and the benchmark."""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from rtc.ice_gathering import cap_gathering
from rtc.ice_path import selected_path
from rtc.ice_triggered_checks import retrigger_in_progress_checks
from rtc.sctp_reassembly import use_unordered_reassembly
from signaling.ice import rtc_configuration
from stream.clock import ClockOffsetEstimator
from stream.messages import End, Hello, Ping, Pong, SenderStatsMessage, ViewerMessage, encode
from stream.protocol import load_coders
from stream.tasks import TaskSet
from stream.untrusted_json import loads_bounded

from .assembler import AssembledFrame, FrameAssembler
from .coverage import SectorCoverage

logger = logging.getLogger(__name__)

MAX_SERVER_CONTROL = 64 * 1024
"""Longest control message taken from the server (the browser client's bound too)."""


@dataclass(frozen=True)
class ReceiverOptions:
    """How the headless viewer opens its channels."""

    ordered: bool = False
    """Point channel ordering (the product uses unordered)."""
    max_retransmits: int | None = 0
    """Point channel retransmissions (the product uses 0; None = reliable)."""
    ping_interval: float = 0.5
    """Seconds between clock pings on the control channel."""
    points: bool = True
    """Decode each chunk's points; False reads headers only (the benchmark's light viewers: frames are counted,
    timed and their points counted, nothing is decoded, and there is no coverage)."""


@dataclass(frozen=True)
class FrameRecord:
    frame_id: int
    capture_time: float
    arrival: float
    """Receiver clock, seconds."""
    latency: float
    """Capture → last chunk decoded, seconds, corrected by the estimated clock offset."""
    complete: bool
    points_received: int
    frame_points: int
    chunks_received: int
    chunk_count: int
    coverage_pct: float | None = 100.0
    """Share of the azimuth sectors seen so far that this frame's points reach (headless/coverage.py); None from
    a viewer that reads headers only."""


@dataclass
class ReceiverState:
    hello: dict[str, Any] | None = None
    server_stats: dict[str, Any] = field(default_factory=dict)
    records: list[FrameRecord] = field(default_factory=list)
    ended: bool = False


def parse_control(raw: str | bytes) -> dict[str, Any] | None:
    """A server's control message as a JSON object with a ``type``; None (logged) for anything else."""
    try:
        message = loads_bounded(raw, MAX_SERVER_CONTROL, "control message")
        if isinstance(message, dict) and isinstance(message.get("type"), str):
            return message
    except ValueError:
        pass
    logger.warning("bad control message from server: %r", raw[:100])
    return None


class BaseReceiver:
    """Transport-independent viewer logic: reassembly, clock sync, records, control messages.

    ``async with Receiver(url) as rx: await rx.wait_frames(30)``.
    """

    transport = "base"

    def __init__(self, base_url: str, options: ReceiverOptions = ReceiverOptions(),
                 on_frame: Callable[[AssembledFrame], None] | None = None, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        """Sent with every HTTP request and the WebSocket handshake (a server started with --token)."""
        self.state = ReceiverState()
        self.clock = ClockOffsetEstimator()
        self.sectors = SectorCoverage()
        self.assembler = FrameAssembler(self._on_frame, time.time, points=options.points)
        self._user_on_frame = on_frame
        self._ping_task: asyncio.Task[None] | None = None
        self._ping_ids = itertools.count()
        self._pings: dict[int, float] = {}
        self._frame_event = asyncio.Event()
        self._hello = asyncio.Event()

    async def __aenter__(self) -> BaseReceiver:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, timeout: float = 20.0) -> None:
        # the range decoder's compiled code loads once per process, before the stream: loaded on the first
        # chunk, it held the event loop a second while the stream queued behind it
        await asyncio.to_thread(load_coders)
        await self._open()
        await asyncio.wait_for(self._hello.wait(), timeout)
        self._ping_task = asyncio.create_task(self._ping_loop())

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close_transport(self) -> None:
        raise NotImplementedError

    def _send_text(self, text: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        if self._ping_task:
            self._ping_task.cancel()
            await asyncio.gather(self._ping_task, return_exceptions=True)
        self.assembler.flush()
        await self._close_transport()

    def send_control(self, message: ViewerMessage) -> None:
        self._send_text(encode(message))

    async def wait_frames(self, count: int, timeout: float = 30.0) -> list[FrameRecord]:
        """Wait until ``count`` frames have been finished (complete or partial)."""
        deadline = time.monotonic() + timeout
        while len(self.state.records) < count:
            if self.state.ended:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self.state.records)} of {count} frames after {timeout:.0f} s")
            self._frame_event.clear()
            try:
                await asyncio.wait_for(self._frame_event.wait(), remaining)
            except TimeoutError:
                pass
        return self.state.records

    # ----------------------------------------------------------------- handlers
    def _on_points(self, message: bytes | str) -> None:
        if isinstance(message, str):
            self.assembler.stats.bad_chunks += 1
            return
        self.assembler.push(message)

    def _on_frame(self, frame: AssembledFrame) -> None:
        record = FrameRecord(frame.frame_id, frame.capture_time, frame.finished_at,
                             frame.finished_at + self.clock.offset - frame.capture_time, frame.complete,
                             frame.points_received, frame.frame_points, frame.chunks_received, frame.chunk_count,
                             self.sectors.coverage(frame.points) if self.options.points else None)
        self.state.records.append(record)
        if self._user_on_frame is not None:
            self._user_on_frame(frame)
        self._frame_event.set()

    def _on_control(self, raw: str | bytes) -> None:
        message = parse_control(raw)
        if message is not None:
            self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        """A control message from the server, parsed (``parse_control``)."""
        kind = message["type"]
        if kind == Hello.type:
            self.state.hello = message
            self._hello.set()
        elif kind == Pong.type and message.get("id") in self._pings:
            t0 = self._pings.pop(message["id"])
            self.clock.add(t0, float(message["serverTime"]), time.time())
        elif kind == SenderStatsMessage.type:
            self.state.server_stats = message
        elif kind == End.type:
            self.state.ended = True
            self.assembler.flush()
            self._frame_event.set()

    async def _ping_loop(self) -> None:
        while True:
            ping_id = next(self._ping_ids)
            self._pings[ping_id] = time.time()
            if len(self._pings) > 32:
                self._pings.pop(next(iter(self._pings)))
            self.send_control(Ping(ping_id, self._pings[ping_id]))
            await asyncio.sleep(self.options.ping_interval)


class PointReceiver(BaseReceiver):
    """The WebRTC viewer: a ``points`` data channel (unordered, unreliable by default) and ``control``."""

    transport = "webrtc"

    def __init__(self, base_url: str, options: ReceiverOptions = ReceiverOptions(),
                 on_frame: Callable[[AssembledFrame], None] | None = None,
                 rtc: RTCConfiguration | None = None, ssl: Any = True, token: str | None = None) -> None:
        super().__init__(base_url, options, on_frame, token)
        self.points: RTCDataChannel | None = None
        self.control: RTCDataChannel | None = None
        self._rtc = rtc
        """None: ask the server's ``/config``, as the browser does."""
        self._ssl = ssl
        self._pc: RTCPeerConnection | None = None

    async def _open(self) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl), headers=self._headers) as http:
            if self._rtc is None:
                async with http.get(f"{self.base_url}/config") as resp:
                    if resp.status != 200:
                        raise ConnectionError(f"/config refused ({resp.status}): {await resp.text()}")
                    self._rtc = rtc_configuration(await resp.json())
            self._pc = pc = RTCPeerConnection(self._rtc)
            self.control = pc.createDataChannel("control")
            self.points = pc.createDataChannel("points", ordered=self.options.ordered,
                                               maxRetransmits=self.options.max_retransmits)
            self.points.on("message", self._on_points)
            self.control.on("message", self._on_control)
            use_unordered_reassembly(pc.sctp)  # aiortc's own loses a message after each lost last fragment
            cap_gathering(pc)  # as the browser: an unanswered STUN server must not hold the offer for 5 s
            retrigger_in_progress_checks(pc)  # as the RFC: a direct path through two NATs wins over the relay
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
            async with http.post(f"{self.base_url}/offer", json=offer) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise ConnectionError(f"offer refused ({resp.status}): {body.get('error')}")
            await pc.setRemoteDescription(RTCSessionDescription(**body))

    async def _close_transport(self) -> None:
        if self._pc:
            await self._pc.close()

    def path(self) -> dict[str, Any] | None:
        """The selected ICE candidate pair: local/remote candidate types, protocol, relay protocol."""
        return selected_path(self._pc) if self._pc is not None else None

    @property
    def peer_connection(self) -> RTCPeerConnection:
        assert self._pc is not None
        return self._pc

    def _send_text(self, text: str) -> None:
        if self.control is not None and self.control.readyState == "open":
            self.control.send(text)



class WebSocketReceiver(BaseReceiver):
    """The fallback viewer: chunks and control messages over one WebSocket (``GET /ws``)."""

    transport = "websocket"

    def __init__(self, base_url: str, options: ReceiverOptions = ReceiverOptions(),
                 on_frame: Callable[[AssembledFrame], None] | None = None, token: str | None = None) -> None:
        super().__init__(base_url, options, on_frame, token)
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._sends = TaskSet("websocket receiver")

    async def _open(self) -> None:
        self._http = aiohttp.ClientSession(headers=self._headers)
        self._ws = await self._http.ws_connect(self._socket_url("/ws"), max_msg_size=0)
        self._reader = asyncio.create_task(self._read())

    def _socket_url(self, path: str) -> str:
        """The WebSocket address of ``path`` on the server."""
        return self.base_url.replace("http://", "ws://").replace("https://", "wss://") + path

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self._on_points(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self._on_control(msg.data)
        self.state.ended = True
        self._frame_event.set()

    def _send_text(self, text: str) -> None:
        if self._ws is not None and not self._ws.closed:
            self._sends.spawn(self._ws.send_str(text))

    async def _close_transport(self) -> None:
        await self._sends.close()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._http is not None:
            await self._http.close()


def make_receiver(transport: str, base_url: str, on_frame: Callable[[AssembledFrame], None] | None = None,
                  points: bool = True) -> BaseReceiver:
    """A viewer for one of the benchmark's transports: webrtc-unreliable, webrtc-reliable, websocket, sfu;
    ``points=False``: it reads chunk headers only (ReceiverOptions.points)."""
    if transport == "webrtc-unreliable":
        return PointReceiver(base_url, ReceiverOptions(ordered=False, max_retransmits=0, points=points), on_frame)
    if transport == "webrtc-reliable":
        return PointReceiver(base_url, ReceiverOptions(ordered=True, max_retransmits=None, points=points), on_frame)
    if transport == "websocket":
        return WebSocketReceiver(base_url, ReceiverOptions(points=points), on_frame)
    if transport == "sfu":
        from .sfu_receiver import SfuReceiver  # it builds on this module
        return SfuReceiver(base_url, ReceiverOptions(points=points), on_frame)
    raise ValueError(f"unknown transport {transport!r} (webrtc-unreliable, webrtc-reliable, websocket, sfu)")
