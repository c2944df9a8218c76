"""Velodyne sensors: live over loopback UDP and from packet captures, decoded by velodyne-decoder.

The packets are written by the test in the VLP-16's documented format (tests/velodyne_packets.py), so
the decoded frame is known: a wall 10 m away all round, 16 rings from -15° to +15°, one reflectivity.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from data.source import Frame, SourceError
from data.velodyne import VelodynePcapSource, VelodyneUdpSource, parse_address
from headless.receiver import PointReceiver
from lab.process import StreamerProcess, free_port
from tests.helpers import terminate_promptly
from tests.velodyne_packets import POINTS_PER_ROTATION, VLP16_ELEVATIONS, vlp16_packets, write_pcap

RANGE_M = 10.0
REFLECTIVITY = 77


def assert_is_the_wall(frame: Frame) -> None:
    """One whole rotation of the wall: ~28,800 points at 10 m, the VLP-16's 16 elevations, one intensity."""
    points = frame.points
    assert abs(len(points) - POINTS_PER_ROTATION) <= 2 * 384, len(points)  # the first cut may carry a packet more
    ranges = np.linalg.norm(points[:, :3], axis=1)
    assert np.allclose(ranges, RANGE_M, atol=0.004), (ranges.min(), ranges.max())
    elevations = np.unique(np.round(np.degrees(np.arcsin(points[:, 2] / ranges))))
    assert tuple(elevations.astype(int)) == VLP16_ELEVATIONS
    azimuths = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    assert np.histogram(azimuths, bins=36, range=(-180, 180))[0].min() > 0  # all the way round
    assert np.allclose(points[:, 3], REFLECTIVITY / 255)


def test_a_capture_plays_whole_rotations_at_their_capture_times(tmp_path: Path) -> None:
    path = tmp_path / "vlp16.pcap"
    write_pcap(path, vlp16_packets(3.0, RANGE_M, REFLECTIVITY, start_us=5_000_000))
    source = VelodynePcapSource(path)
    assert source.native_fps is not None and 9.5 < source.native_fps < 10.5
    frames = list(source.frames())
    assert len(frames) >= 2
    for frame in frames[:2]:
        assert_is_the_wall(frame)
    assert 0.095 < frames[1].timestamp - frames[0].timestamp < 0.105
    assert 5.0 < frames[0].timestamp < 5.2  # the capture's own clock


def test_a_capture_of_something_else_is_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "other.pcap"  # UDP datagrams of another size: another sensor, or telemetry
    write_pcap(other, [(k * 0.01, os.urandom(1000)) for k in range(50)])
    with pytest.raises(SourceError, match="no Velodyne rotation"):
        VelodynePcapSource(other)
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(os.urandom(4000))
    with pytest.raises(SourceError, match="cannot read .*junk.pcap"):
        VelodynePcapSource(junk)


def test_live_packets_over_loopback_become_whole_rotations() -> None:
    port = free_port_udp()
    source = VelodyneUdpSource("127.0.0.1", port)
    got: list[Frame] = []

    def read() -> None:
        for frame in source.frames():
            if frame is not None:
                got.append(frame)
                if len(got) == 2:
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.3)  # the reader's socket is bound
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"telemetry or noise", ("127.0.0.1", port))  # ignored, with a warning
        for _, payload in vlp16_packets(3.2, RANGE_M, REFLECTIVITY):
            sender.sendto(payload, ("127.0.0.1", port))
            time.sleep(0.001)  # faster than the sensor, slow enough for the loopback socket
    reader.join(10)
    assert len(got) == 2, len(got)
    for frame in got:
        assert_is_the_wall(frame)


def test_a_port_that_cannot_be_had_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(SourceError, match=f"cannot listen for Velodyne packets on 127.0.0.1:{port}"):
            VelodyneUdpSource("127.0.0.1", port)
    assert parse_address("velodyne:") == ("0.0.0.0", 2368)
    assert parse_address("velodyne:10.0.0.5:2370") == ("10.0.0.5", 2370)
    for bad in ("velodyne:x", "velodyne:70000"):
        with pytest.raises(SourceError):
            parse_address(bad)


def free_port_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_streamer_streams_a_live_sensor_and_stops_cleanly() -> None:
    port = free_port_udp()
    streamer = StreamerProcess(["--source", f"velodyne:127.0.0.1:{port}", "--quantize", "5"], port=free_port())
    stop = threading.Event()

    def sensor() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            packets = vlp16_packets(1.0, RANGE_M, REFLECTIVITY)
            while not stop.is_set():
                for _, payload in packets:
                    sender.sendto(payload, ("127.0.0.1", port))
                    time.sleep(0.0013)  # the sensor's own rate: 10 rotations a second

    feeding = threading.Thread(target=sensor, daemon=True)
    feeding.start()
    try:
        async with PointReceiver(streamer.url) as rx:
            records = await rx.wait_frames(3, timeout=30)
            assert rx.state.hello is not None and "Velodyne packets on 127.0.0.1" in rx.state.hello["source"]
        assert max(r.points_received for r in records) > 20_000
    finally:
        stop.set()
        feeding.join()
        await terminate_promptly(streamer)


def test_the_source_flag_takes_velodyne_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import server

    path = tmp_path / "vlp16.pcap"
    write_pcap(path, vlp16_packets(2.5, RANGE_M, REFLECTIVITY))
    code = server.serve(["--source", str(path), "--probe"])
    out = capsys.readouterr().out
    assert code == 0 and "Velodyne capture vlp16.pcap" in out and "rate: 10 frames/s" in out, out
