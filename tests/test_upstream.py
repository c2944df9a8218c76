"""A relay node's upstream (signaling/upstream.py) against an in-process streamer: UDP sockets stand in for Janus's
tier ports. The chunks come in and go out to each tier as its share of the frame; the node keeps the
streamer hearing from it (pings), so a streamer that closes silent viewers keeps it; refusals are said."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from data.synthetic import SyntheticOptions, SyntheticSource
from sfu.janus import MAX_DATAGRAM, Tier
from signaling.upstream import Upstream
from signaling.app import PEERS, init_app
from stream.broadcaster import FrameBroadcaster
from stream.encoder import EncoderOptions
from stream.protocol import decode_header
from tests.conftest import ROOT
from tests.helpers import server_config, until


class TierPorts:
    """Three UDP sockets on loopback, one per tier, counting what arrives."""

    def __init__(self) -> None:
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
        for s in self.sockets:
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        self.tiers = tuple(Tier(k + 1, share, s.getsockname()[1])
                           for k, (share, s) in enumerate(zip((1.0, 0.5, 0.25), self.sockets)))
        self.counts = [0, 0, 0]
        self.longest = 0
        self.frames: set[int] = set()

    def drain(self) -> None:
        for k, s in enumerate(self.sockets):
            while True:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    break
                self.counts[k] += 1
                self.longest = max(self.longest, len(data))
                self.frames.add(decode_header(data).frame_id)

    def close(self) -> None:
        for s in self.sockets:
            s.close()


@pytest.fixture
def ports() -> Iterator[TierPorts]:
    p = TierPorts()
    yield p
    p.close()


def streamer_app(**fields: Any) -> Any:
    source = SyntheticSource(SyntheticOptions(azimuth_steps=300))
    broadcaster = FrameBroadcaster(source, EncoderOptions(quantize_mm=5, chunk_packets=1), 10.0)
    return init_app(server_config(broadcaster, **fields))


async def test_the_stream_reaches_every_tier_and_the_streamer_keeps_the_node(aiohttp_server: Any,
                                                                            ports: TierPorts) -> None:
    server = await aiohttp_server(streamer_app(silence_timeout=2.0))  # closes viewers silent for 2 s
    upstream = Upstream(str(server.make_url("/")), ports.tiers, "127.0.0.1")
    task = asyncio.create_task(upstream.run())
    try:
        await until(lambda: upstream.describe()["connected"], 20)
        assert upstream.describe()["connected"], upstream.describe()
        assert upstream.metadata()["source"].startswith("synthetic")
        for _ in range(40):  # 4 s, twice the streamer's silence limit: the node's pings keep it
            await asyncio.sleep(0.1)
            ports.drain()
        state = upstream.describe()
        assert state["connected"] and state["connections"] == 1 and state["lastError"] is None, state
        assert len(server.app[PEERS]) == 1
        assert ports.counts[0] > 0 and len(ports.frames) >= 20  # 10 Hz for 4 s and more
        # a tier gets its share of each frame's chunks: whole, half, a quarter
        assert ports.counts[0] > ports.counts[1] > ports.counts[2] > 0, ports.counts
        assert ports.longest <= MAX_DATAGRAM and state["ingest"]["oversize_refused"] == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_refusing_upstream_is_retried_and_says_why(aiohttp_server: Any, ports: TierPorts) -> None:
    server = await aiohttp_server(streamer_app(token="right-token"))
    wrong = Upstream(str(server.make_url("/")), ports.tiers, "127.0.0.1", token="wrong-token")
    task = asyncio.create_task(wrong.run())
    try:
        await until(lambda: wrong.last_error is not None, 10)
        assert "/config: 401" in str(wrong.last_error) and not wrong.describe()["connected"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    right = Upstream(str(server.make_url("/")), ports.tiers, "127.0.0.1", token="right-token")
    task = asyncio.create_task(right.run())
    try:
        await until(lambda: right.describe()["connected"], 20)
        assert right.describe()["connected"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(("upstream", "flags", "message"), [
    ("ftp://streamer:8080/", [], "must be an http:// or https:// URL"),
    ("streamer:8080", [], "must be an http:// or https:// URL"),
    ("http://streamer:8080/?token=abcdefgh", [], "--upstream-token, not in its URL"),
    ("http://streamer:8080/", ["--upstream-token", "short"], "--upstream-token must be at least 8 characters"),
    ("http://streamer:8080/", ["--sfu-ports", "9-8"], "--sfu-ports must be a range"),
    ("http://streamer:8080/", ["--max-viewers", "-1"], "--max-viewers must be >= 0"),
])
def test_a_relay_node_refuses_bad_flags_before_starting_anything(upstream: str, flags: list[str],
                                                                 message: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "server.py"), "relay", upstream, *flags],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
