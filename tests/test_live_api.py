"""Streaming from your own program: live.Streamer, publish from a thread, newest frame wins."""
from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from headless.assembler import AssembledFrame
from headless.receiver import PointReceiver
from live import Streamer
from record.mcap_recorder import RecordingError


def children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def cloud(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(-30, 30, (n, 3)), rng.uniform(0, 1, n)].astype(np.float32)


async def test_frames_published_from_a_thread_reach_a_viewer_exactly() -> None:
    sent: dict[int, np.ndarray] = {}
    colours: dict[int, np.ndarray] = {}
    with Streamer(port=0, quantize=0) as streamer:  # lossless: what arrives is what was published
        stop = threading.Event()

        def program() -> None:
            k = 0
            while not stop.is_set():
                points = cloud(3000 + k, k)  # each frame's size says which one it is
                sent[len(points)] = points
                colours[len(points)] = np.random.default_rng(k).integers(0, 256, (len(points), 3)).astype(np.uint8)
                streamer.publish(points, colours=colours[len(points)])
                k += 1
                time.sleep(0.03)

        publisher = threading.Thread(target=program)
        publisher.start()
        complete: list[AssembledFrame] = []
        try:
            async with PointReceiver(streamer.url, on_frame=lambda f: complete.append(f) if f.complete else None):
                deadline = time.monotonic() + 30
                while len(complete) < 5 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            publisher.join()
        assert len(complete) >= 5
        for frame in complete:
            np.testing.assert_array_equal(frame.points, sent[frame.frame_points])
            assert frame.colours is not None and np.array_equal(frame.colours, colours[frame.frame_points])
        stats = streamer.stats()
        assert stats["framesEncoded"] >= 5 and stats["published"] >= stats["framesEncoded"]


def test_newest_frame_wins_and_bad_arrays_are_refused() -> None:
    streamer = Streamer(port=0)
    # before anything reads them, every publish replaces the one waiting
    for k in range(20):
        streamer.publish(cloud(100, k))
    assert streamer.stats()["replaced"] == 19
    with pytest.raises(ValueError, match="N×3 or N×4"):
        streamer.publish(np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError, match="N×3 or N×4"):
        streamer.publish(np.zeros(30, np.float32))
    with pytest.raises(ValueError, match=r"colours of shape \(9, 3\)"):
        streamer.publish(np.zeros((10, 3), np.float32), colours=np.zeros((9, 3)))
    with pytest.raises(ValueError, match="0..255"):
        streamer.publish(np.zeros((10, 3), np.float32), colours=np.full((10, 3), 300))
    with pytest.raises(RecordingError, match="cannot write"):
        Streamer(port=0, record=Path("/nonexistent/dir/x.mcap"))
    streamer.start()
    try:
        assert streamer.port != 0
    finally:
        streamer.close()


def test_close_stops_the_producer_process_and_the_thread() -> None:
    streamer = Streamer(port=0).start()
    streamer.publish(cloud(500, 1))
    deadline = time.monotonic() + 20
    while streamer.stats()["framesEncoded"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert streamer.stats()["framesEncoded"] == 1
    streamer.close()
    assert streamer._thread is not None and not streamer._thread.is_alive()
    # the producer is a spawned child (multiprocessing's resource tracker, also a child, stays with us)
    assert not [pid for pid in children(os.getpid()) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
