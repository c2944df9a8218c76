"""Server and headless Python viewer over loopback WebRTC: exact frames, channel semantics, fan-out."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
import urllib.request
from typing import Any

import aiohttp
import numpy as np

from data.synthetic import SyntheticSource
from headless.assembler import AssembledFrame
from headless.receiver import PointReceiver, ReceiverOptions, WebSocketReceiver
from signaling.app import PEERS, WS_VIEWERS
from stream.broadcaster import FrameBroadcaster
from stream.encoder import EncoderOptions
from stream.link_fit import FitOptions
from stream.messages import Pause, Resume, ViewerStats
from tests.helpers import grid_error_bound, make_app, until


def digest(points: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(points, dtype=np.float32).tobytes()).hexdigest()


async def test_lossless_frames_arrive_identical_over_an_unordered_unreliable_channel(aiohttp_server: Any) -> None:
    app, broadcaster, source = make_app(fps=10, fit=FitOptions(enabled=False))  # whole frames, to compare
    server = await aiohttp_server(app)
    complete: list[AssembledFrame] = []
    rx = PointReceiver(str(server.make_url("/")), on_frame=lambda f: complete.append(f) if f.complete else None)
    async with rx:
        # the point channel really is unordered with no retransmissions, on both ends
        assert rx.points is not None and rx.points.ordered is False and rx.points.maxRetransmits == 0
        (peer,) = app[PEERS]
        assert peer.points is not None and peer.points.ordered is False and peer.points.maxRetransmits == 0
        assert rx.state.hello is not None
        assert rx.state.hello["pointsChannel"] == {"ordered": False, "maxRetransmits": 0, "maxPacketLifeTime": None}
        assert rx.state.hello["transport"] == "webrtc"
        # random loss is not congestion on this channel (rtc/sctp_congestion.py), and /stats says so
        assert peer.congestion is not None and peer.describe()["congestion"]["cwndBytes"] > 0
        await until(lambda: len(complete) >= 8, 120)
        records = list(rx.state.records)
        stats = rx.assembler.stats
    assert len(complete) >= 8, f"{len(complete)} complete frames, {stats}"
    reference = SyntheticSource()
    for frame in complete[:8]:
        expected = reference.frame(frame.frame_id % len(reference)).points
        assert digest(frame.points) == digest(expected), f"frame {frame.frame_id} differs"
    latencies = [r.latency for r in records if r.complete]
    assert all(0 < lat < 10 for lat in latencies)
    assert stats.bad_chunks == 0
    assert broadcaster.stats.frames_encoded > 0


async def test_quantized_fitted_stream_is_within_the_grid_bound(aiohttp_server: Any) -> None:
    """The default sender (fitted to the link): whatever share of a frame arrives is within 5 mm·√3/2 of the
    source, and the sender reports its rate estimate and share in /stats."""
    app, _, _ = make_app(fps=10, quantize_mm=5)
    server = await aiohttp_server(app)
    frames: list[AssembledFrame] = []
    rx = PointReceiver(str(server.make_url("/")), on_frame=frames.append)
    async with rx:
        assert rx.state.hello is not None and rx.state.hello["encoding"] == "spherical"
        await until(lambda: len(frames) >= 10, 60)
        async with aiohttp.ClientSession() as session, session.get(server.make_url("/stats")) as reply:
            (viewer,) = (await reply.json())["viewers"]
    assert len(frames) >= 10
    assert viewer["sender"]["rateEstimateMbit"] > 0 and 0 < viewer["sender"]["fittedShare"] <= 1
    reference = SyntheticSource()
    for frame in frames[:10]:
        expected = reference.frame(frame.frame_id % len(reference)).points
        got = ~np.isnan(frame.points[:, 0])
        assert got.sum() == frame.points_received > 0
        distance = np.linalg.norm(frame.points[got, :3].astype(np.float64) - expected[got, :3], axis=1)
        assert distance.max() <= grid_error_bound(0.005, 120)
        assert np.abs(frame.points[got, 3] - expected[got, 3]).max() <= 0.5 / 255 + 1e-6


async def test_two_viewers_share_each_encoded_frame(server_process: Any) -> None:
    fps = 2.0  # 5 mm frames at 2 Hz: two Python viewers keep up on a 2-core machine
    server = server_process("--fps", str(fps), "--quantize", "5")  # its own process, as in production
    seen: list[dict[int, str]] = [{}, {}]

    def keeper(i: int) -> Any:
        return lambda f: seen[i].__setitem__(f.frame_id, digest(f.points)) if f.complete else None

    def stats() -> dict[str, Any]:
        with urllib.request.urlopen(server.url + "stats", timeout=10) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    async with PointReceiver(server.url, on_frame=keeper(0)), PointReceiver(server.url, on_frame=keeper(1)):
        before = await asyncio.to_thread(stats)
        assert len(before["viewers"]) == 2
        started = time.monotonic()
        await until(lambda: len(set(seen[0]) & set(seen[1])) >= 6, 60)
        elapsed = time.monotonic() - started
        after = await asyncio.to_thread(stats)
    encoded = after["broadcast"]["framesEncoded"] - before["broadcast"]["framesEncoded"]
    common = set(seen[0]) & set(seen[1])
    assert len(common) >= 6, (sorted(seen[0]), sorted(seen[1]), after["viewers"])
    assert all(seen[0][f] == seen[1][f] for f in common)
    # one encode per tick, not one per viewer (two would double it)
    assert encoded <= elapsed * fps + 2, (encoded, elapsed)


async def test_viewer_state_is_released_when_it_leaves(aiohttp_server: Any) -> None:
    app, _, _ = make_app(fps=5)
    server = await aiohttp_server(app)
    async with PointReceiver(str(server.make_url("/"))) as rx:
        await rx.wait_frames(2, timeout=60)
        assert len(app[PEERS]) == 1
    await until(lambda: not app[PEERS], 30)
    assert not app[PEERS]


async def test_a_reliable_point_channel_keeps_standard_congestion_control(aiohttp_server: Any) -> None:
    app, _, _ = make_app(fps=5)
    server = await aiohttp_server(app)
    async with PointReceiver(str(server.make_url("/")), ReceiverOptions(ordered=True, max_retransmits=None)) as rx:
        await rx.wait_frames(2, timeout=60)
        (peer,) = app[PEERS]
        assert peer.points is not None and peer.points.ordered and peer.points.maxRetransmits is None
        assert peer.congestion is None and peer.describe()["congestion"] is None


async def test_pause_and_resume_over_the_control_channel(aiohttp_server: Any) -> None:
    """Synchronised on the stream itself (frames encoded, chunks sent), not on fixed sleeps."""
    app, broadcaster, _ = make_app(fps=5)
    server = await aiohttp_server(app)

    async def frames_pass(count: int) -> None:
        encoded = broadcaster.stats.frames_encoded
        await until(lambda: broadcaster.stats.frames_encoded >= encoded + count, 30)

    async with PointReceiver(str(server.make_url("/"))) as rx:
        await rx.wait_frames(2, timeout=60)
        (peer,) = app[PEERS]
        assert peer.session is not None
        sender = peer.session.sender
        rx.send_control(Pause())
        await until(lambda: sender.paused and not sender.sending, 30)  # the frame in flight when it came is done
        sent, drawn = sender.stats.chunks_sent, len(rx.state.records)
        await frames_pass(5)
        assert sender.stats.chunks_sent == sent  # five frames went by, none of it to this viewer
        assert len(rx.state.records) <= drawn + 1  # at most the frame that was in flight is finished now
        rx.send_control(Resume())
        await rx.wait_frames(len(rx.state.records) + 3, timeout=60)
        assert sender.stats.chunks_sent > sent
        rx.send_control(ViewerStats({"fps": 5.0}))
        rx.control.send("{broken")  # type: ignore[union-attr]
        await until(lambda: peer.session.viewer_stats == {"fps": 5.0} and peer.session.control_errors == 1, 10)
        assert peer.session.viewer_stats == {"fps": 5.0} and peer.session.control_errors == 1
        assert rx.clock.best is not None and rx.clock.best.rtt < 1.0


async def test_a_finite_stream_ends_and_says_so(aiohttp_server: Any) -> None:
    app, broadcaster, _ = make_app(fps=5, frames_per_pass=15, loop=False)
    server = await aiohttp_server(app)
    async with PointReceiver(str(server.make_url("/"))) as rx:
        await until(lambda: rx.state.ended, 60)
        assert rx.state.ended and broadcaster.finished
        assert broadcaster.stats.frames_encoded == 15
        assert rx.state.records and rx.state.records[-1].frame_id == 14


async def test_websocket_viewer_gets_the_same_frames(aiohttp_server: Any) -> None:
    app, _, source = make_app(fps=5, quantize_mm=5)
    server = await aiohttp_server(app)
    complete: list[AssembledFrame] = []
    rx = WebSocketReceiver(str(server.make_url("/")), on_frame=lambda f: complete.append(f) if f.complete else None)
    async with rx:
        assert rx.state.hello is not None and rx.state.hello["transport"] == "websocket"
        await until(lambda: len(complete) >= 5, 60)
        assert len(app[WS_VIEWERS]) == 1
        assert rx.clock.best is not None
        assert rx.assembler.stats.chunks_lost == 0  # reliable transport (the frame in progress at close is cut)
    assert len(complete) >= 5
    for frame in complete[:5]:
        expected = source.frame(frame.frame_id % len(source)).points
        distance = np.linalg.norm(frame.points[:, :3].astype(np.float64) - expected[:, :3], axis=1)
        assert distance.max() <= grid_error_bound(0.005, 120)


async def test_nobody_watching_nothing_is_encoded_and_the_next_viewer_gets_a_fresh_frame(aiohttp_server: Any,
                                                                                         tmp_path: Any) -> None:
    app, broadcaster, source = make_app(fps=10, quantize_mm=5)
    server = await aiohttp_server(app)
    await until(lambda: broadcaster.stats.frames_encoded >= 1, 60)  # one frame, to show the source works
    await asyncio.sleep(1.0)
    assert broadcaster.stats.frames_encoded == 1 and broadcaster.latest is None  # paused; its frame dropped
    async with WebSocketReceiver(str(server.make_url("/"))) as rx:
        await rx.wait_frames(5, timeout=60)
        assert broadcaster.audience >= 1
        first = rx.state.records[0]
        assert first.frame_id >= 1 and first.latency < 1.0, first  # a new frame, not the one kept since start
    await until(lambda: broadcaster.audience == 0 and broadcaster.latest is None, 30)  # paused again
    assert broadcaster.audience == 0 and broadcaster.latest is None
    encoded = broadcaster.stats.frames_encoded
    await asyncio.sleep(1.0)
    assert broadcaster.stats.frames_encoded == encoded and broadcaster.stats.idle_seconds > 0.9
    # a live source, and a streamer that records, produce whoever watches
    assert not FrameBroadcaster(source, EncoderOptions(), 10, record=tmp_path / "r.mcap").pauses_when_unwatched
    live = SyntheticSource()
    live.live = True  # type: ignore[attr-defined]
    assert not FrameBroadcaster(live, EncoderOptions(), 10).pauses_when_unwatched
