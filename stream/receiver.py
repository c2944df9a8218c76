"""Headless Python viewer (aiortc): connects like the browser client does, reassembles frames,
estimates the clock offset and records per-frame latency. Used by tests and the benchmark."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCDataChannel, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from .assembler import AssembledFrame, FrameAssembler
from .control import ClockOffsetEstimator, encode_control

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceiverOptions:
    """How the headless viewer opens its channels."""

    ordered: bool = False
    """Point channel ordering (the product uses unordered)."""
    max_retransmits: int | None = 0
    """Point channel retransmissions (the product uses 0; None = reliable)."""
    ping_interval: float = 0.5
    """Seconds between clock pings on the control channel."""


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


@dataclass
class ReceiverState:
    hello: dict[str, Any] | None = None
    server_stats: dict[str, Any] = field(default_factory=dict)
    records: list[FrameRecord] = field(default_factory=list)
    ended: bool = False


class PointReceiver:
    """``async with PointReceiver(url) as rx: await rx.wait_frames(30)``."""

    def __init__(self, base_url: str, options: ReceiverOptions = ReceiverOptions(),
                 on_frame: Callable[[AssembledFrame], None] | None = None,
                 ice_servers: list[RTCIceServer] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.state = ReceiverState()
        self.clock = ClockOffsetEstimator()
        self.assembler = FrameAssembler(self._on_frame, time.time)
        self.points: RTCDataChannel | None = None
        self.control: RTCDataChannel | None = None
        self._user_on_frame = on_frame
        self._ice_servers = ice_servers
        self._pc: RTCPeerConnection | None = None
        self._ping_task: asyncio.Task[None] | None = None
        self._ping_ids = itertools.count()
        self._pings: dict[int, float] = {}
        self._frame_event = asyncio.Event()
        self._hello = asyncio.Event()

    async def __aenter__(self) -> PointReceiver:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, timeout: float = 20.0) -> None:
        async with aiohttp.ClientSession() as http:
            if self._ice_servers is None:
                async with http.get(f"{self.base_url}/config") as resp:
                    resp.raise_for_status()
                    cfg = await resp.json()
                self._ice_servers = [RTCIceServer(**s) for s in cfg.get("iceServers", [])]
            self._pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self._ice_servers)))
            self.control = pc.createDataChannel("control")
            self.points = pc.createDataChannel("points", ordered=self.options.ordered,
                                               maxRetransmits=self.options.max_retransmits)
            self.points.on("message", self._on_points)
            self.control.on("message", self._on_control)
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
            async with http.post(f"{self.base_url}/offer", json=offer) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise ConnectionError(f"offer refused ({resp.status}): {body.get('error')}")
            await pc.setRemoteDescription(RTCSessionDescription(**body))
        await asyncio.wait_for(self._hello.wait(), timeout)
        self._ping_task = asyncio.create_task(self._ping_loop())

    async def close(self) -> None:
        if self._ping_task:
            self._ping_task.cancel()
            await asyncio.gather(self._ping_task, return_exceptions=True)
        self.assembler.flush()
        if self._pc:
            await self._pc.close()

    @property
    def peer_connection(self) -> RTCPeerConnection:
        assert self._pc is not None
        return self._pc

    def send_control(self, kind: str, **fields: Any) -> None:
        if self.control is not None and self.control.readyState == "open":
            self.control.send(encode_control(kind, **fields))

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
        record = FrameRecord(frame.frame_id, frame.capture_time, frame.last_arrival,
                             frame.last_arrival + self.clock.offset - frame.capture_time, frame.complete,
                             frame.points_received, frame.frame_points, frame.chunks_received, frame.chunk_count)
        self.state.records.append(record)
        if self._user_on_frame is not None:
            self._user_on_frame(frame)
        self._frame_event.set()

    def _on_control(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            logger.warning("bad control message from server: %r", raw[:100])
            return
        if kind == "hello":
            self.state.hello = message
            self._hello.set()
        elif kind == "pong" and message.get("id") in self._pings:
            t0 = self._pings.pop(message["id"])
            self.clock.add(t0, float(message["serverTime"]), time.time())
        elif kind == "stats":
            self.state.server_stats = message
        elif kind == "end":
            self.state.ended = True
            self.assembler.flush()
            self._frame_event.set()

    async def _ping_loop(self) -> None:
        while True:
            ping_id = next(self._ping_ids)
            self._pings[ping_id] = time.time()
            if len(self._pings) > 32:
                self._pings.pop(next(iter(self._pings)))
            self.send_control("ping", id=ping_id, t0=self._pings[ping_id])
            await asyncio.sleep(self.options.ping_interval)
