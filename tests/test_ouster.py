"""Ouster sensors: packet captures, and live packets over loopback UDP, decoded by ouster-sdk in its own
environment (.venv-ouster; data/ouster.py runs ouster_reader/ with it).

The packets are written by ouster-sdk's own writer from a scan the test chose (tests/ouster_packets.py), so
the decoded frame is known: an OS-1-64 at 512 × 10, a return at 10 m from every other column, one
reflectivity.
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from data.cli import open_source
from data.ouster import OUSTER_PYTHON, OusterLiveSource, OusterPcapSource, parse_source
from data.source import Frame, SourceError
from headless.receiver import PointReceiver
from lab.process import StreamerProcess, free_port
from tests.helpers import terminate_promptly
from tests.conftest import ROOT, require
from tests.ouster_sensor_api import CONFIG_KEY, REQUESTS, sensor_api
from tests.test_velodyne import free_port_udp
from tests.velodyne_packets import vlp16_packets, write_pcap

SCANS = 30
POINTS_PER_SCAN = 64 * 256  # 64 beams, a return from 256 of the 512 columns
RANGE_M = 10.0
INTENSITY = 51 / 255


@pytest.fixture(scope="module")
def ouster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """meta.json, packets.bin and capture.pcap (30 scans: 3 s of a sensor) from ouster-sdk, in a folder."""
    require(OUSTER_PYTHON.exists(), f"ouster-sdk's environment {OUSTER_PYTHON.parent.parent} is missing "
                                    "(scripts/setup.sh makes it)")
    out = tmp_path_factory.mktemp("ouster")
    subprocess.run([str(OUSTER_PYTHON), str(ROOT / "tests" / "ouster_packets.py"), str(out), str(SCANS)], check=True,
                   timeout=120)
    return out


def packets(folder: Path) -> list[bytes]:
    data = (folder / "packets.bin").read_bytes()
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "little")
        out.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return out


def assert_is_the_scan(frame: Frame) -> None:
    points = frame.points
    assert len(points) == POINTS_PER_SCAN
    ranges = np.linalg.norm(points[:, :3], axis=1)
    # the design values put each beam's origin 15.8 mm off the sensor's axis: ranges from the axis differ a bit
    assert np.allclose(ranges, RANGE_M, atol=0.03), (ranges.min(), ranges.max())
    elevations = np.degrees(np.arcsin(points[:, 2] / ranges))
    assert len(np.unique(np.round(elevations, 1))) == 64 and -17 < elevations.min() < elevations.max() < 17
    azimuths = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    assert np.histogram(azimuths, bins=36, range=(-180, 180))[0].min() > 0  # all the way round
    assert np.allclose(points[:, 3], INTENSITY)


def test_a_capture_plays_whole_scans_at_their_capture_times(ouster: Path) -> None:
    source = OusterPcapSource(ouster / "capture.pcap", ouster / "meta.json")
    assert "Ouster capture capture.pcap" in source.description or "capture.pcap" in source.description
    assert "OS-1-64" in source.description and "64 × 512" in source.description
    assert source.native_fps is not None and 9.5 < source.native_fps < 10.5
    frames = list(source.frames())
    assert len(frames) == SCANS
    for frame in frames[:3]:
        assert_is_the_scan(frame)
    # at the capture's own clock, a tenth of a second apart
    assert [round(f.timestamp - 1_700_000_000, 3) for f in frames] == [round(0.1 * (k + 1), 3) for k in range(SCANS)]


def test_live_packets_over_loopback_become_whole_scans(ouster: Path) -> None:
    port = free_port_udp()
    source = OusterLiveSource(parse_source(f"ouster:127.0.0.1:{port}", ouster / "meta.json"))
    assert f"Ouster packets on 127.0.0.1:{port}" in source.description
    got: list[Frame] = []
    started = threading.Event()

    def read() -> None:
        for frame in source.frames():
            started.set()  # the reader is up: it yields None while no scan has come
            if frame is not None:
                got.append(frame)
                if len(got) == 2:
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert started.wait(30)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"an IMU packet, or noise", ("127.0.0.1", port))  # not a lidar packet: passed over
        for payload in packets(ouster):
            sender.sendto(payload, ("127.0.0.1", port))
            time.sleep(0.002)  # the sensor's own pace, about: 32 packets a scan, 10 scans a second
    reader.join(20)
    assert len(got) == 2, len(got)
    for frame in got:
        assert_is_the_scan(frame)


async def test_a_sensor_named_by_its_host_is_configured_and_streamed(ouster: Path) -> None:
    """ouster:HOST: ouster-sdk asks the sensor (a stand-in for its HTTP API on 127.0.0.2:80) for its metadata,
    sets where it sends its packets, and listens on its lidar port, 7502, where the test sends them."""
    runner = web.AppRunner(sensor_api(ouster / "meta.json"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.2", 80)
    try:
        await site.start()
    except OSError as exc:
        pytest.fail(f"the sensor stand-in needs 127.0.0.2:80 (root, and the port free): {exc}")
    try:
        source = await asyncio.to_thread(OusterLiveSource, parse_source("ouster:127.0.0.2", None))
        assert "Ouster sensor 127.0.0.2 (OS-1-64, 64 × 512" in source.description
        assert "GET /api/v1/sensor/metadata/sensor_info" in runner.app[REQUESTS]
        assert runner.app[CONFIG_KEY]["udp_dest"] == "@auto"  # the SDK pointed the sensor at this host
        frames = source.frames()
        assert await asyncio.to_thread(next, frames) is None  # listening, nothing yet

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.bind(("127.0.0.2", 0))  # from the sensor's address
                for payload in packets(ouster)[:96]:
                    sender.sendto(payload, ("127.0.0.1", 7502))
                    time.sleep(0.002)

        sending = asyncio.create_task(asyncio.to_thread(send))
        frame = None
        while frame is None:
            frame = await asyncio.wait_for(asyncio.to_thread(next, frames), 20)
        assert_is_the_scan(frame)
        await sending
        await asyncio.to_thread(frames.close)
    finally:
        await runner.cleanup()


def test_what_cannot_be_read_is_a_clear_error(ouster: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="needs the sensor's metadata"):
        parse_source("ouster:7502", None)
    assert parse_source("ouster:", ouster / "meta.json")[:3] == ["udp", "0.0.0.0", "7502"]
    assert parse_source("ouster:os-122.local", None) == ["sensor", "os-122.local"]
    for bad in ("ouster:x:y", "ouster:70000"):
        with pytest.raises(SourceError):
            parse_source(bad, ouster / "meta.json")
    junk = tmp_path / "junk.json"
    junk.write_text('{"not": "metadata"}')
    with pytest.raises(SourceError, match="not Ouster sensor metadata"):
        OusterPcapSource(ouster / "capture.pcap", junk)
    velodyne = tmp_path / "vlp16.pcap"  # another sensor's capture
    write_pcap(velodyne, vlp16_packets(0.5, 10.0, 77))
    with pytest.raises(SourceError, match="holds no complete Ouster scan"):
        OusterPcapSource(velodyne, ouster / "meta.json")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(SourceError, match="cannot listen for Ouster packets"):
            OusterLiveSource(parse_source(f"ouster:127.0.0.1:{taken.getsockname()[1]}", ouster / "meta.json"))
    # a sensor that is not there: ouster-sdk's own error, said at once (nothing serves HTTP on loopback here)
    with pytest.raises(SourceError, match="Ouster: .*127.0.0.1/api/v1/sensor/metadata"):
        OusterLiveSource(parse_source("ouster:127.0.0.1", None))
    args = argparse.Namespace(source="synthetic", ouster_metadata=ouster / "meta.json")
    with pytest.raises(SourceError, match="--ouster-metadata applies to"):
        open_source(args)


async def test_the_streamer_streams_an_ouster_sensor_and_stops_cleanly(ouster: Path) -> None:
    port = free_port_udp()
    streamer = StreamerProcess(["--source", f"ouster:127.0.0.1:{port}", "--ouster-metadata",
                                str(ouster / "meta.json"), "--quantize", "5"], port=free_port())
    stop = threading.Event()

    def sensor() -> None:  # 3 s of a sensor, once: its frame counter only goes up, as a real one's does
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for payload in packets(ouster):
                if stop.is_set():
                    return
                sender.sendto(payload, ("127.0.0.1", port))
                time.sleep(0.003)

    feeding = threading.Thread(target=sensor, daemon=True)
    feeding.start()
    try:
        async with PointReceiver(streamer.url) as rx:
            records = await rx.wait_frames(3, timeout=40)
            assert rx.state.hello is not None and "Ouster packets on 127.0.0.1" in rx.state.hello["source"]
        assert max(r.points_received for r in records) > 10_000
    finally:
        stop.set()
        feeding.join()
        await terminate_promptly(streamer)
    left = subprocess.run(["pgrep", "-f", f"ouster_reader udp 127.0.0.1 {port}"], capture_output=True, text=True)
    assert not left.stdout.strip(), "the reader process outlived the streamer"


def test_the_source_flag_takes_an_ouster_capture(ouster: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import server

    code = server.serve(["--source", str(ouster / "capture.pcap"), "--ouster-metadata", str(ouster / "meta.json"),
                         "--probe"])
    out = capsys.readouterr().out
    assert code == 0 and "Ouster capture" in out and "rate: 10 frames/s" in out, out
