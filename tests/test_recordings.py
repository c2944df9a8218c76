"""Recorded robot data as sources (ROS 1 and 2 bags, MCAP files), and --record.

Every recording here is written by the library its users write it with (tests/recordings.py) and read
back point for point.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data.cut import CutSource, parse_range
from data.intensity import assumed_scale
from data.recording import RecordingSource
from data.source import SourceError
from lab.process import StreamerProcess
from record.mcap_recorder import McapRecorder
from stream.broadcaster import RecordedClock
from tests.conftest import ROOT
from tests.recordings import PC2, ROS2, Layout, Message, encode_cloud, typestore_for, write_recording

KINDS = ("bag1", "sqlite3", "mcap", "mcap-file")
NAMES = {"bag1": "drive.bag", "sqlite3": "drive_sqlite", "mcap": "drive_mcap", "mcap-file": "drive.mcap"}
LAYOUTS = {
    # what a minimal driver sends
    "/plain": Layout(),
    # aligned fields, extra fields after intensity, and a 0..1 intensity that overshoots to 1.19
    "/padded": Layout(fields=(("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4"), ("ring", "u2"),
                              ("time", "f4")), pad=4, intensity_max=1.19),
    # float64 coordinates, big-endian, 16-bit intensity on its full scale
    "/big_endian": Layout(fields=(("x", "f8"), ("y", "f8"), ("z", "f8"), ("intensity", "u2")), big_endian=True,
                          intensity_max=65535.0),
    # an organised cloud (4 rows) with NaN holes and padded rows; Ouster's name and type for intensity
    "/organised": Layout(fields=(("x", "f4"), ("y", "f4"), ("z", "f4"), ("reflectivity", "u1")), height=4,
                         row_pad=8),
    # no intensity at all
    "/xyz": Layout(fields=(("x", "f4"), ("y", "f4"), ("z", "f4"))),
}
FRAMES = 3
POINTS = 400
START_NS = 1_700_000_000 * 10**9
PERIOD_NS = 100_000_000


def clouds(seed: int, holes: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(FRAMES):
        points = np.c_[rng.uniform(-40, 40, (POINTS, 3)), rng.uniform(0, 1, POINTS)].astype(np.float32)
        if holes:
            points[rng.choice(POINTS, 37, replace=False), :3] = np.nan
        out.append(points)
    return out


def expected(points: np.ndarray, layout: Layout) -> np.ndarray:
    """What the reader must return: holes dropped, intensity back on 0..1 as stored."""
    kept = points[np.isfinite(points[:, :3]).all(axis=1)].copy()
    kinds = dict(layout.fields)
    name = next((n for n in ("intensity", "reflectivity") if n in kinds), None)
    if name is None:
        kept[:, 3] = 0.0
    elif kinds[name][0] == "f":
        kept[:, 3] = np.clip(kept[:, 3] * layout.intensity_max / (1.0 if layout.intensity_max < 2 else
                                                                     layout.intensity_max), 0, 1)
    else:
        kept[:, 3] = np.rint(kept[:, 3] * layout.intensity_max) / layout.intensity_max
    return kept


@pytest.fixture(scope="module", params=KINDS)
def recording(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, dict[str, list[np.ndarray]]]:
    """One recording of each kind with every layout on a topic of its own, interleaved in time."""
    kind = request.param
    typestore = typestore_for(kind)
    sent = {topic: clouds(k, holes=layout.height > 1) for k, (topic, layout) in enumerate(LAYOUTS.items())}
    messages = [Message(topic, START_NS + i * PERIOD_NS + k,
                        encode_cloud(typestore, sent[topic][i], layout, START_NS + i * PERIOD_NS))
                for i in range(FRAMES) for k, (topic, layout) in enumerate(LAYOUTS.items())]
    messages.append(Message("/chatter", START_NS, typestore.types["std_msgs/msg/String"](data="hello"),
                            msgtype="std_msgs/msg/String"))
    path = write_recording(tmp_path_factory.mktemp(kind) / NAMES[kind], kind, messages)
    return path, sent


def test_every_layout_reads_back_point_for_point(recording: tuple[Path, dict[str, list[np.ndarray]]]) -> None:
    path, sent = recording
    for topic, layout in LAYOUTS.items():
        source = RecordingSource(path, topic)
        assert len(source) == FRAMES
        frames = list(source.frames())
        assert [f.index for f in frames] == list(range(FRAMES))
        for i, frame in enumerate(frames):
            want = expected(sent[topic][i], layout)
            assert frame.points.dtype == np.float32 and frame.points.shape == want.shape, (topic, i)
            np.testing.assert_array_equal(frame.points[:, :3], want[:, :3], err_msg=topic)
            np.testing.assert_allclose(frame.points[:, 3], want[:, 3], atol=1e-6, err_msg=topic)
        # paced by the recorded times, in seconds
        assert np.allclose(np.diff([f.timestamp for f in frames]), PERIOD_NS / 1e9, atol=1e-6)
        assert source.native_fps is not None and 8 < source.native_fps < 12


def test_several_point_cloud_topics_need_topic_and_the_error_lists_them(
        recording: tuple[Path, dict[str, list[np.ndarray]]]) -> None:
    path, _ = recording
    with pytest.raises(SourceError) as err:
        RecordingSource(path)
    message = str(err.value)
    assert "--topic" in message and all(f"{topic} ({FRAMES} × " in message for topic in LAYOUTS), message
    assert "/chatter" not in message  # only point-cloud topics are offered
    with pytest.raises(SourceError, match=r"no topic '/nope'.*/plain \(3 ×"):
        RecordingSource(path, "/nope")
    with pytest.raises(SourceError, match="/chatter.*not PointCloud2"):
        RecordingSource(path, "/chatter")


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_message_is_skipped_with_a_warning_and_the_stream_goes_on(
        kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    typestore = typestore_for(kind)
    sent = clouds(7, holes=False)
    messages = []
    for i, points in enumerate(sent):
        msg = encode_cloud(typestore, points, Layout(), START_NS + i * PERIOD_NS)
        if i == 1:  # the header says 400 points, the data holds 399
            msg.data = msg.data[:-16]
        messages.append(Message("/points", START_NS + i * PERIOD_NS, msg))
    path = write_recording(tmp_path / NAMES[kind], kind, messages)
    with caplog.at_level(logging.WARNING):
        frames = list(RecordingSource(path).frames())
    assert len(frames) == FRAMES - 1
    np.testing.assert_array_equal(frames[1].points[:, :3], sent[2][:, :3])
    assert any("skipping /points at 1700000000.100000 s" in r.getMessage() and "data holds" in r.getMessage()
               for r in caplog.records), caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # a cut past it never decodes it
        assert len(list(RecordingSource(path, frames=(2, None)).frames())) == 1
    assert not caplog.records, caplog.text


@pytest.mark.parametrize("kind", ("bag1", "mcap-file"))
def test_a_truncated_recording_is_an_error_or_plays_what_is_complete(kind: str, tmp_path: Path) -> None:
    typestore = typestore_for(kind)
    sent = clouds(3, holes=False) * 3
    path = write_recording(tmp_path / NAMES[kind], kind, [
        Message("/points", START_NS + i * PERIOD_NS, encode_cloud(typestore, p, Layout(), START_NS + i * PERIOD_NS))
        for i, p in enumerate(sent)])
    whole = path.read_bytes()
    for cut in (len(whole) // 3, len(whole) * 2 // 3, len(whole) - 10):
        path.write_bytes(whole[:cut])
        try:
            frames = list(RecordingSource(path).frames())
        except SourceError as exc:
            assert str(path) in str(exc)
            continue
        assert len(frames) <= len(sent)  # a cut in the index at the end loses no message
        for frame, points in zip(frames, sent):
            np.testing.assert_array_equal(frame.points[:, :3], points[:, :3])


def test_files_that_are_not_recordings_are_clear_errors(tmp_path: Path) -> None:
    for name in ("junk.bag", "junk.mcap", "junk.db3"):
        path = tmp_path / name
        path.write_bytes(os.urandom(5000))
        with pytest.raises(SourceError, match=f"cannot read .*{name}"):
            RecordingSource(path)
    with pytest.raises(SourceError, match="no such file"):
        RecordingSource(tmp_path / "missing.bag")


def test_intensity_scale_follows_the_field_type_then_the_values() -> None:
    assert assumed_scale(np.array([0, 17, 200], np.uint8)) == 255
    assert assumed_scale(np.array([0, 17, 200], np.uint16)) == 255  # 0..255 values in a 16-bit field
    assert assumed_scale(np.array([0, 17, 4000], np.uint16)) == 65535
    assert assumed_scale(np.array([0.0, 0.5, 1.19], np.float32)) == 1.0  # overshooting 0..1, not 0..255
    assert assumed_scale(np.array([0.0, 3.0, 200.0], np.float32)) == 255
    assert assumed_scale(np.array([0.0, 3000.0], np.float64)) == 65535
    assert assumed_scale(np.array([np.nan, 0.4], np.float32)) == 1.0


def test_the_intensity_scale_can_be_given(tmp_path: Path) -> None:
    sent = clouds(5, holes=False)
    path = write_recording(tmp_path / "d.mcap", "mcap-file", [
        Message("/points", START_NS + i * PERIOD_NS, encode_cloud(typestore_for("mcap-file"), p,
                                                                  Layout(intensity_max=100.0), START_NS))
        for i, p in enumerate(sent)])
    got = next(iter(RecordingSource(path, intensity_scale=100.0).frames())).points
    np.testing.assert_allclose(got[:, 3], sent[0][:, 3], atol=1e-6)
    guessed = next(iter(RecordingSource(path).frames())).points  # max ~100 looks like 0..255
    np.testing.assert_allclose(guessed[:, 3], sent[0][:, 3] * 100 / 255, atol=1e-6)


async def test_the_recorded_clock_keeps_the_recorded_spacing_scaled_by_speed() -> None:
    clock = RecordedClock(speed=2.0)
    sent_at = []
    for timestamp in (100.0, 100.2, 100.4):
        await clock.wait(timestamp)
        sent_at.append(time.monotonic())
    gaps = np.diff(sent_at)
    assert (gaps >= 0.099).all(), gaps  # 0.2 s recorded, twice as fast
    start = time.monotonic()
    await clock.wait(100.0)  # time went backwards: the recording looped, so the clock starts over: now
    await clock.wait(500.0)  # a pause of minutes in the recording is not a frozen stream: starts over, now
    assert time.monotonic() - start < 1.0
    start = time.monotonic()
    await clock.wait(500.2)  # counted from where it started over
    assert time.monotonic() - start >= 0.099


def read_mcap_clouds(path: Path) -> list[tuple[int, np.ndarray]]:
    """(log time, N × 4 points) of every complete message, with the mcap reader and its ROS 2 decoder."""
    from mcap.exceptions import EndOfFile
    from mcap.reader import NonSeekingReader
    from mcap_ros2.decoder import DecoderFactory

    out = []
    with path.open("rb") as f:
        try:
            for schema, channel, message, decoded in NonSeekingReader(
                    f, decoder_factories=[DecoderFactory()]).iter_decoded_messages(log_time_order=False):
                assert schema.name == PC2 and channel.topic == "/points"
                assert [field.name for field in decoded.fields] == ["x", "y", "z", "intensity"]
                points = np.frombuffer(bytes(decoded.data), "<f4").reshape(-1, 4)
                assert len(points) == decoded.width * decoded.height
                out.append((message.log_time, points))
        except EndOfFile:
            pass
    return out


def test_record_round_trip_and_play_back(tmp_path: Path) -> None:
    sent = clouds(11, holes=False)
    source = write_recording(tmp_path / "in.mcap", "mcap-file", [
        Message("/points", START_NS + i * PERIOD_NS, encode_cloud(typestore_for("mcap-file"), p, Layout(),
                                                                  START_NS)) for i, p in enumerate(sent)])
    out = tmp_path / "out.mcap"
    streamer = StreamerProcess(["--source", str(source), "--no-loop", "--record", str(out)])
    try:
        deadline = time.monotonic() + 30
        while not any("broadcast ended" in line for line in streamer.output) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        streamer.stop()
    recorded = read_mcap_clouds(out)
    assert len(recorded) == FRAMES, list(streamer.output)
    times = [t for t, _ in recorded]
    assert times == sorted(times) and times[0] > 1.7e18  # capture times in ns since the epoch
    for (_, points), want in zip(recorded, sent):
        np.testing.assert_array_equal(points[:, :3], want[:, :3])
        np.testing.assert_allclose(points[:, 3], np.float32(want[:, 3] * 255) / 255, atol=1e-6)
    played = list(RecordingSource(out).frames())
    assert len(played) == FRAMES and np.array_equal(played[2].points, recorded[2][1])


def test_a_recorder_killed_mid_write_leaves_a_file_that_reads_to_its_last_complete_frame(tmp_path: Path) -> None:
    out = tmp_path / "killed.mcap"
    cmd = [sys.executable, str(ROOT / "server.py"), "--port", "0", "--points", "20000", "--record", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while (not out.exists() or out.stat().st_size < 2_000_000) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the streamer and its producer process: no index written
        proc.wait()
    recorded = read_mcap_clouds(out)
    assert len(recorded) >= 3
    assert all(18_000 < len(points) < 22_000 for _, points in recorded)
    from mcap.reader import make_reader
    with out.open("rb") as f:
        with pytest.raises(Exception):  # no summary: the writer never got to close it
            summary = make_reader(f).get_summary()
            assert summary is not None
    assert len(list(RecordingSource(out).frames())) == len(recorded)


class FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.written = 0
        self.closed = False

    def write(self, data: Any) -> int:
        size = len(memoryview(data).cast("B"))
        if size > self.room:
            raise OSError(28, "No space left on device")
        self.room -= size
        self.written += size
        return size

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_a_full_disk_stops_the_recording_with_an_error_not_the_stream(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    disk = FullDisk(200_000)

    class OnFullDisk(type(tmp_path)):  # type: ignore[misc]
        def open(self, *args: Any, **kwargs: Any) -> Any:
            return disk

    recorder = McapRecorder(OnFullDisk(tmp_path / "full.mcap"))
    points = np.random.default_rng(1).uniform(-50, 50, (5000, 4)).astype(np.float32)  # incompressible
    with caplog.at_level(logging.ERROR):
        for k in range(10):
            recorder.write(k, points)  # never raises: the stream calls this
            time.sleep(0.05)
        recorder.close()
    assert recorder.failed is not None and "No space left" in recorder.failed
    assert 1 <= recorder.frames < 10 and disk.closed
    assert any("stopped after" in r.getMessage() for r in caplog.records), caplog.text


def run_server(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``server.py ARGV`` in this process, for what ends before serving (errors, --probe): exit code, out, err."""
    import server

    code = server.serve(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_record_refuses_an_unwritable_or_existing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "there.mcap"
    existing.write_bytes(b"keep me")
    for target, error in ((tmp_path / "no" / "such" / "dir.mcap", "cannot write"), (existing, "exists")):
        code, _, err = run_server(["--record", str(target)], capsys)
        assert code == 2 and error in err, err
    assert existing.read_bytes() == b"keep me"


def test_recording_flags_apply_to_recordings_only(capsys: pytest.CaptureFixture[str]) -> None:
    for flags, error in ((["--topic", "/points"], "--topic applies to recordings"),
                         (["--speed", "2"], "--speed applies to recordings"),
                         (["--intensity-scale", "0"], "--intensity-scale must be > 0")):
        code, _, err = run_server(flags, capsys)
        assert code == 2 and error in err, (flags, err)


def test_frames_and_time_cut_any_source_and_probe_says_what_a_source_holds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sent = clouds(13, holes=False) * 4  # 12 clouds, 0.1 s apart
    path = write_recording(tmp_path / "d.mcap", "mcap-file", [
        Message("/points", START_NS + i * PERIOD_NS, encode_cloud(typestore_for("mcap-file"), p, Layout(), START_NS))
        for i, p in enumerate(sent)] + [Message("/chatter", START_NS, ROS2.types["std_msgs/msg/String"](data="hi"),
                                                msgtype="std_msgs/msg/String")])
    whole = RecordingSource(path)
    by_frames = list(CutSource(whole, (3, 6)).frames())
    assert [f.index for f in by_frames] == [0, 1, 2]
    np.testing.assert_array_equal(by_frames[0].points[:, :3], sent[3][:, :3])
    by_time = list(CutSource(whole, seconds=(0.25, 0.55)).frames())  # frames at 0.3, 0.4, 0.5 s
    assert [round(f.timestamp - START_NS / 1e9, 3) for f in by_time] == [0.3, 0.4, 0.5]
    # a recording cuts itself before decoding what it skips, with the same result
    for cut in ({"frames": (3, 6)}, {"seconds": (0.25, 0.55)}):
        itself = list(RecordingSource(path, **cut).frames())  # type: ignore[arg-type]
        wrapped = list(CutSource(whole, **cut).frames())  # type: ignore[arg-type]
        assert [f.timestamp for f in itself] == [f.timestamp for f in wrapped] and len(itself) == 3
        assert all(np.array_equal(a.points, b.points) for a, b in zip(itself, wrapped))
    for text, error in (("5", "START:STOP"), ("a:b", "int numbers"), ("-1:", "no negative"), ("7:3", "after START")):
        with pytest.raises(SourceError, match=error):
            parse_range(text, "--frames")
    code, _, err = run_server(["--source", str(path), "--frames", "50:60"], capsys)
    assert code == 2 and "select no cloud" in err, err
    code, out, err = run_server(["--source", str(path), "--probe", "--time", "0.5:"], capsys)
    assert code == 0, err
    assert "/points: 12 × sensor_msgs/msg/PointCloud2  <- streamed" in out
    assert "/chatter: 1 × std_msgs/msg/String" in out
    assert f"points per frame (first 5): {POINTS} to {POINTS}" in out and "every 0.100 s" in out, out
    assert "seconds 0.5:" in out


def test_foxglove_point_clouds_in_mcap_are_read_with_their_pose(tmp_path: Path) -> None:
    """foxglove.PointCloud (protobuf), as Foxglove's SDKs write it: little-endian, its own numeric types
    (UINT8 is 1 there, INT8 in PointField), points placed in their frame by a pose."""
    from foxglove_schemas_protobuf.PackedElementField_pb2 import PackedElementField
    from foxglove_schemas_protobuf.PointCloud_pb2 import PointCloud
    from mcap_protobuf.writer import Writer

    sent = clouds(21, holes=False)
    path = tmp_path / "foxglove.mcap"
    layout = np.dtype({"names": ["x", "y", "z", "intensity"], "formats": ["<f4", "<f4", "<f4", "u1"],
                       "offsets": [0, 4, 8, 13], "itemsize": 16})
    with path.open("wb") as f:
        writer = Writer(f)
        for i, points in enumerate(sent):
            packed = np.zeros(len(points), layout)
            for k, axis in enumerate("xyz"):
                packed[axis] = points[:, k]
            packed["intensity"] = np.rint(points[:, 3] * 255)
            msg = PointCloud(frame_id="lidar", point_stride=16, data=packed.tobytes(), fields=[
                PackedElementField(name=name, offset=offset, type=kind) for name, offset, kind in
                (("x", 0, PackedElementField.FLOAT32), ("y", 4, PackedElementField.FLOAT32),
                 ("z", 8, PackedElementField.FLOAT32), ("intensity", 13, PackedElementField.UINT8))])
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = 1.0, 2.0, 3.0
            msg.pose.orientation.w, msg.pose.orientation.z = np.sqrt(0.5), np.sqrt(0.5)  # 90° about z
            writer.write_message("/lidar", msg, log_time=START_NS + i * PERIOD_NS, publish_time=START_NS)
        writer.finish()
    source = RecordingSource(path)
    assert source.topic.msgtype == "foxglove.PointCloud"
    frames = list(source.frames())
    assert len(frames) == FRAMES
    for frame, points in zip(frames, sent):
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        np.testing.assert_allclose(frame.points[:, :3], np.c_[1.0 - y, 2.0 + x, 3.0 + z], atol=1e-4)
        np.testing.assert_allclose(frame.points[:, 3], np.rint(points[:, 3] * 255) / 255, atol=1e-6)


def test_point_cloud2_colours_are_read_and_recorded(tmp_path: Path) -> None:
    """rgb packed in a float32 (PCL's way) comes out per point; --record writes it back the same way."""
    rng = np.random.default_rng(8)
    sent = clouds(9, holes=False)
    colours = [rng.integers(0, 256, (POINTS, 3)).astype(np.uint8) for _ in sent]
    layout = Layout(fields=(("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4"), ("rgb", "f4")))
    messages = []
    for i, (points, rgb) in enumerate(zip(sent, colours)):
        msg = encode_cloud(ROS2, points, layout, START_NS)
        cloud = np.frombuffer(bytes(msg.data), np.uint8).reshape(POINTS, 20).copy()
        packed = (rgb[:, 0].astype("<u4") << 16) | (rgb[:, 1].astype("<u4") << 8) | rgb[:, 2]
        cloud[:, 16:20] = packed.astype("<u4").view(np.uint8).reshape(POINTS, 4)
        msg.data = cloud.reshape(-1)
        messages.append(Message("/points", START_NS + i * PERIOD_NS, msg))
    path = write_recording(tmp_path / "rgb.mcap", "mcap-file", messages)
    frames = list(RecordingSource(path).frames())
    assert all(f.colours is not None and np.array_equal(f.colours, c) for f, c in zip(frames, colours))
    out = tmp_path / "rerecorded.mcap"
    recorder = McapRecorder(out)
    for frame in frames:
        recorder.write(frame.timestamp, frame.points, frame.colours)
    recorder.close()
    again = list(RecordingSource(out).frames())
    assert len(again) == FRAMES
    assert all(a.colours is not None and np.array_equal(a.colours, c) for a, c in zip(again, colours))
