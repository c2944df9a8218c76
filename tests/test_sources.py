"""Frame sources: synthetic, KITTI raw through pykitti, folders of point files, and their errors."""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pykitti
import pytest

from data import synthetic_kernels as kernels
from data.cli import create_source
from data.folder import FolderSource
from data.kitti import KittiSource
from data.sample import write_sample
from data.source import SourceError
from data.synthetic import SyntheticOptions, SyntheticSource
from stream.protocol import MAX_FRAME_POINTS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def synthetic() -> SyntheticSource:
    return SyntheticSource()


def test_synthetic_frame_shape_and_count(synthetic: SyntheticSource) -> None:
    for index in (0, 100, 377):
        f = synthetic.frame(index)
        assert f.points.dtype == np.float32 and f.points.ndim == 2 and f.points.shape[1] == 4
        assert 100_000 <= len(f.points) <= 128_000  # 64 × 2000 rays minus sky and dropouts
        assert np.isfinite(f.points).all()
        assert 0.0 <= f.points[:, 3].min() and f.points[:, 3].max() <= 1.0
        rng = np.linalg.norm(f.points[:, :3], axis=1)
        assert rng.max() <= 121.0 and np.percentile(f.points[:, 2], 10) < -1.5  # ground below the sensor


def test_synthetic_is_deterministic_by_seed_and_moves(synthetic: SyntheticSource) -> None:
    a = synthetic.frame(10).points
    assert np.array_equal(a, SyntheticSource(SyntheticOptions(seed=1)).frame(10).points)
    assert not np.array_equal(a, SyntheticSource(SyntheticOptions(seed=2)).frame(10).points)
    b = synthetic.frame(11).points
    assert not np.array_equal(a, b)
    assert synthetic.frame(10).timestamp == pytest.approx(1.0)


def test_synthetic_columns_an_object_covers_wrap_at_the_seam() -> None:
    """Column k looks at azimuth pi - k × 2pi/n: ahead is column n/2, behind wraps from n - 1 to 0."""
    n = 2000
    ahead = kernels.columns(0.0, 0.0, np.array([10.0, 10.0]), np.array([-0.5, 0.5]), n)
    first, stop, first2, stop2 = ahead
    assert first < n // 2 < stop and stop - first < 50 and first2 == stop2
    behind = kernels.columns(0.0, 0.0, np.array([-10.0, -10.0]), np.array([-0.5, 0.5]), n)
    (low, low_stop), (high, high_stop) = sorted([behind[:2], behind[2:]])
    assert low == 0 and 0 < low_stop < 50 and n - 50 < high < high_stop == n  # both sides of ±180°


def test_synthetic_one_pass_is_one_lap() -> None:
    src = SyntheticSource(SyntheticOptions(frames_per_pass=3))
    assert len(src) == 3 and [f.index for f in src.frames()] == [0, 1, 2]
    assert len(SyntheticSource()) == 500


def sample_args(tmp_path: Path, frames: int = 3, **kw: object) -> argparse.Namespace:
    ns = dict(dir=tmp_path, frames=frames, date="2011_09_26", drive="0001", seed=1, fps=10.0, force=False)
    ns.update(kw)
    return argparse.Namespace(**ns)


def test_make_sample_loads_back_through_pykitti_with_identical_points(tmp_path: Path) -> None:
    drive = write_sample(sample_args(tmp_path, frames=4))
    assert drive == tmp_path / "2011_09_26" / "2011_09_26_drive_0001_sync"
    raw = pykitti.raw(str(tmp_path), "2011_09_26", "0001")
    assert len(raw) == 4 and len(raw.velo_files) == 4
    synthetic = SyntheticSource()
    for i in range(4):
        assert np.array_equal(raw.get_velo(i), synthetic.frame(i).points)
    assert (raw.timestamps[1] - raw.timestamps[0]).total_seconds() == pytest.approx(0.1)
    assert raw.oxts[3].T_w_imu[0, 3] == pytest.approx(3 * 0.6, abs=0.01)  # drove 0.6 m per scan, east
    src = KittiSource(tmp_path, "2011_09_26", "0001")
    frames = list(src.frames())
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert src.native_fps == pytest.approx(10.0)
    assert np.array_equal(frames[2].points, synthetic.frame(2).points)


def test_make_sample_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    write_sample(sample_args(tmp_path, frames=1))
    with pytest.raises(ValueError, match="already holds scans"):
        write_sample(sample_args(tmp_path, frames=1))
    write_sample(sample_args(tmp_path, frames=2, force=True))
    assert len(list(tmp_path.glob("2011_09_26/*/velodyne_points/data/*.bin"))) == 2


def test_make_sample_cli_shows_progress(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "server.py"), "make-sample", str(tmp_path), "--frames", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "make-sample: 100%" in out.stderr and "2/2" in out.stderr  # tqdm progress bar
    assert "--source kitti --kitti-dir" in out.stdout


def test_kitti_corrupt_scan_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    drive = write_sample(sample_args(tmp_path, frames=3))
    bad = drive / "velodyne_points" / "data" / "0000000001.bin"
    bad.write_bytes(bad.read_bytes()[:1001])
    with caplog.at_level(logging.WARNING):
        frames = list(KittiSource(tmp_path, "2011_09_26", "0001").frames())
    assert [f.index for f in frames] == [0, 2]
    assert "0000000001.bin" in caplog.text and "not a multiple of 16" in caplog.text


@pytest.mark.parametrize("base, date, drive, message", [
    ("missing", "2011_09_26", "0001", "KITTI base directory not found"),
    (".", "2011_09_26", "0009", "KITTI drive not found"),
])
def test_kitti_missing_paths_are_named(tmp_path: Path, base: str, date: str, drive: str, message: str) -> None:
    write_sample(sample_args(tmp_path, frames=1))
    with pytest.raises(SourceError, match=message) as err:
        KittiSource(tmp_path / base, date, drive)
    assert str(tmp_path) in str(err.value)


def test_kitti_drive_without_scans_or_timestamps(tmp_path: Path) -> None:
    drive = write_sample(sample_args(tmp_path, frames=1))
    (drive / "oxts" / "timestamps.txt").unlink()
    with pytest.raises(SourceError, match="timestamps.txt"):
        KittiSource(tmp_path, "2011_09_26", "0001")
    write_sample(sample_args(tmp_path, frames=1, force=True))
    for f in (drive / "velodyne_points" / "data").glob("*.bin"):
        f.unlink()
    with pytest.raises(SourceError, match="no velodyne .bin files in .*velodyne_points"):
        KittiSource(tmp_path, "2011_09_26", "0001")


# ------------------------------------------------------------------ folder source
def write_pcd(path: Path, pts: np.ndarray, binary: bool) -> None:
    n = len(pts)
    head = (f"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
            f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {'binary' if binary else 'ascii'}\n")
    body = pts.astype("<f4").tobytes() if binary else "".join(
        " ".join(repr(float(v)) for v in row) + "\n" for row in pts).encode()
    path.write_bytes(head.encode() + body)


def write_ply(path: Path, pts: np.ndarray, binary: bool) -> None:
    from plyfile import PlyData, PlyElement
    vertex = np.empty(len(pts), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4")])
    for i, name in enumerate(("x", "y", "z", "intensity")):
        vertex[name] = pts[:, i]
    PlyData([PlyElement.describe(vertex, "vertex")], text=not binary).write(str(path))


@pytest.fixture
def clouds() -> list[np.ndarray]:
    src = SyntheticSource(SyntheticOptions(azimuth_steps=64))
    return [src.frame(i).points for i in range(6)]


def test_folder_reads_every_format_in_name_order(tmp_path: Path, clouds: list[np.ndarray]) -> None:
    clouds[0].tofile(tmp_path / "a0.bin")
    np.save(tmp_path / "a1.npy", clouds[1])
    write_pcd(tmp_path / "a2.pcd", clouds[2], binary=False)
    write_pcd(tmp_path / "a3.pcd", clouds[3], binary=True)
    write_ply(tmp_path / "a4.ply", clouds[4], binary=False)
    write_ply(tmp_path / "a5.ply", clouds[5], binary=True)
    (tmp_path / "notes.txt").write_text("ignored")
    src = FolderSource(tmp_path)
    frames = list(src.frames())
    assert len(src) == 6 and [f.index for f in frames] == list(range(6))
    for frame, expected in zip(frames, clouds):
        assert np.array_equal(frame.points, expected)


def test_folder_npy_without_intensity_and_0_255_intensity(tmp_path: Path, clouds: list[np.ndarray]) -> None:
    np.save(tmp_path / "a.npy", clouds[0][:, :3])
    scaled = clouds[1].copy()
    scaled[:, 3] = np.round(scaled[:, 3] * 255)
    write_pcd(tmp_path / "b.pcd", scaled, binary=True)
    a, b = (f.points for f in FolderSource(tmp_path).frames())
    assert (a[:, 3] == 0).all() and np.array_equal(a[:, :3], clouds[0][:, :3])
    assert b[:, 3].max() <= 1.0 and np.allclose(b[:, 3], scaled[:, 3] / 255)


def test_folder_intensity_scale_is_assumed_once_or_given(tmp_path: Path, clouds: list[np.ndarray],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """A 0..1 scale that overshoots (maxima of 1.19 in a public scan set) stays 0..1: it is not taken for
    0..255, which made every point the same colour. The scale found in the first file holds for the rest."""
    over = clouds[0].copy()
    over[:, 3] *= 1.19 / over[:, 3].max()
    np.save(tmp_path / "a.npy", over)
    dark = clouds[1].copy()
    dark[:, 3] *= 0.5 / dark[:, 3].max()
    np.save(tmp_path / "b.npy", dark)
    with caplog.at_level(logging.INFO):
        a, b = (f.points for f in FolderSource(tmp_path).frames())
    assert np.allclose(a[:, 3], np.clip(over[:, 3], 0, 1)) and np.unique(a[:, 3]).size > 100
    assert np.allclose(b[:, 3], dark[:, 3])
    assert any("intensity scale 0..1 (assumed from a.npy" in r.getMessage() for r in caplog.records)
    a, b = (f.points for f in FolderSource(tmp_path, intensity_scale=2.0).frames())
    assert np.allclose(a[:, 3], over[:, 3] / 2) and np.allclose(b[:, 3], dark[:, 3] / 2)


def test_folder_corrupt_files_are_skipped_with_a_warning(tmp_path: Path, clouds: list[np.ndarray],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    clouds[0].tofile(tmp_path / "0.bin")
    (tmp_path / "1.bin").write_bytes(b"\x00" * 17)
    (tmp_path / "2.npy").write_bytes(b"garbage")
    (tmp_path / "3.pcd").write_bytes(b"VERSION 0.7\nFIELDS x y z\n")
    (tmp_path / "4.ply").write_bytes(b"ply\nformat nonsense\n")
    write_pcd(tmp_path / "5.pcd", clouds[1], binary=True)
    (tmp_path / "5.pcd").write_bytes((tmp_path / "5.pcd").read_bytes()[:-100])
    clouds[2].tofile(tmp_path / "6.bin")
    np.save(tmp_path / "7.npy", np.zeros((10, 5), np.float32))  # wrongly sized: five columns
    (tmp_path / "8.bin").write_bytes(b"")
    (tmp_path / "9.bin").mkdir()  # not a file at all
    (tmp_path / "a.bin").symlink_to(tmp_path / "missing.bin")  # a link to nothing
    np.zeros((MAX_FRAME_POINTS + 1, 4), np.float32).tofile(tmp_path / "b.bin")  # more than a frame may hold
    with caplog.at_level(logging.WARNING):
        frames = list(FolderSource(tmp_path).frames())
    assert [f.index for f in frames] == [0, 6]
    for name, reason in [("1.bin", "not a multiple of 16"), ("2.npy", "not a readable .npy"),
                         ("3.pcd", "no DATA line"), ("4.ply", "not a readable PLY"), ("5.pcd", "truncated"),
                         ("7.npy", "N×3 or N×4"), ("8.bin", "no points"), ("9.bin", "not a readable file"),
                         ("a.bin", "not a readable file"), ("b.bin", "more than the")]:
        assert any(name in r.message and reason in r.message for r in caplog.records), (name, caplog.text)


def test_a_folder_with_no_readable_frame_fails_before_serving(tmp_path: Path) -> None:
    (tmp_path / "0.bin").write_bytes(b"\x00" * 17)
    (tmp_path / "1.npy").write_bytes(b"garbage")
    out = subprocess.run([sys.executable, str(ROOT / "server.py"), "--port", "1", "--source", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Streaming" not in out.stdout
    assert f"folder {tmp_path} (2 files) has no readable frame" in out.stderr
    assert "0.bin" in out.stderr and "1.npy" in out.stderr and "Traceback" not in out.stderr


def test_folder_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"no such folder: {tmp_path / 'nope'}"):
        FolderSource(tmp_path / "nope")
    with pytest.raises(SourceError, match=f"no point files in {tmp_path}"):
        FolderSource(tmp_path)
    (tmp_path / "f.bin").write_bytes(b"")
    with pytest.raises(SourceError, match="not a folder"):
        FolderSource(tmp_path / "f.bin")


@pytest.mark.parametrize("args, message", [
    (["--source", "/definitely/missing"], "no such folder: /definitely/missing"),
    (["--source", "kitti"], "--source kitti needs --kitti-dir, --date, --drive"),
    (["--source", "kitti", "--kitti-dir", "/nope", "--date", "2011_09_26", "--drive", "0001"],
     "KITTI base directory not found: /nope"),
    (["--fps", "0"], "--fps must be > 0"),
    (["--quantize", "-2"], "quantize step must be >= 0"),
    (["--pace", "3"], "--pace must be between 0 and 1"),
    (["--loss-tolerance", "100"], "--loss-tolerance must be at least 0 and below 100"),
    (["--loss-tolerance", "-1"], "--loss-tolerance must be at least 0 and below 100"),
    (["--stun", "http://x"], "--stun expects stun:HOST"),
    (["--turn", "turn:198.18.0.10"], "--turn needs credentials"),
    (["--relay-only"], "--relay-only needs a --turn"),
    (["--turn-secret-file", "/definitely/missing"], "cannot read --turn-secret-file /definitely/missing"),
    (["--cert", "/definitely/missing.pem"], "--cert and --key go together"),
    (["--cert", "/nope/c.pem", "--key", "/nope/k.pem"], "cannot load TLS certificate /nope/c.pem"),
    (["--signaling", "http://127.0.0.1:1"], "--signaling and --stream go together"),
    (["--signaling", "http://127.0.0.1:1", "--stream", "a/b"], "stream name 'a/b'"),
    (["--signaling", "127.0.0.1:1", "--stream", "car"], "--signaling expects an http(s):// URL"),
    (["--signaling", "http://127.0.0.1:1", "--stream", "car", "--cert", "c.pem", "--key", "k.pem"],
     "with --signaling nothing listens here"),
    (["signal", "--turn-secret", "s"], "TURN credentials given without --turn URL"),
    (["signal", "--key", "k.pem"], "--cert and --key go together"),
])
def test_cli_fails_before_serving_with_a_clear_message(args: list[str], message: str) -> None:
    command = [args.pop(0)] if args[0] == "signal" else []
    out = subprocess.run([sys.executable, str(ROOT / "server.py"), *command, "--port", "1", *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_the_synthetic_source_travels_to_the_producer_as_its_options() -> None:
    """The producer process gets a pickled source: a few hundred bytes, the same frames."""
    import pickle

    from data.synthetic import SyntheticOptions, SyntheticSource

    source = SyntheticSource(SyntheticOptions(seed=3, frames_per_pass=4))
    payload = pickle.dumps(source)
    assert len(payload) < 4096
    copy = pickle.loads(payload)
    assert len(copy) == 4 and all(np.array_equal(a.points, b.points) for a, b in zip(source.frames(), copy.frames()))


def test_files_with_colours_keep_them_point_for_point(tmp_path: Path, clouds: list[np.ndarray]) -> None:
    """PCD's packed rgb (a float32 whose bits are 0x00RRGGBB, as PCL writes it), PLY's red/green/blue bytes and
    a structured .npy's r/g/b: each point keeps its colour, also when points without coordinates are dropped."""
    from plyfile import PlyData, PlyElement

    pts = clouds[0][:500].copy()
    pts[7, 0] = np.nan  # dropped, with its colour
    rng = np.random.default_rng(5)
    colours = rng.integers(0, 256, (len(pts), 3)).astype(np.uint8)
    packed = ((colours[:, 0].astype(np.uint32) << 16) | (colours[:, 1].astype(np.uint32) << 8) | colours[:, 2])
    head = (f"VERSION 0.7\nFIELDS x y z intensity rgb\nSIZE 4 4 4 4 4\nTYPE F F F F F\nCOUNT 1 1 1 1 1\n"
            f"WIDTH {len(pts)}\nHEIGHT 1\nPOINTS {len(pts)}\nDATA binary\n")
    body = np.column_stack([pts.astype("<f4").view("<u4"), packed.astype("<u4")]).astype("<u4").tobytes()
    (tmp_path / "a.pcd").write_bytes(head.encode() + body)
    vertex = np.empty(len(pts), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4"), ("red", "u1"),
                                       ("green", "u1"), ("blue", "u1")])
    for i, name in enumerate(("x", "y", "z", "intensity")):
        vertex[name] = pts[:, i]
    vertex["red"], vertex["green"], vertex["blue"] = colours.T
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(tmp_path / "b.ply"))
    structured = np.empty(len(pts), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("r", "u1"), ("g", "u1"),
                                           ("b", "u1")])
    for i, name in enumerate("xyz"):
        structured[name] = pts[:, i]
    structured["r"], structured["g"], structured["b"] = colours.T
    np.save(tmp_path / "c.npy", structured)
    np.save(tmp_path / "d.npy", pts)  # no colour
    frames = list(FolderSource(tmp_path).frames())
    kept = np.isfinite(pts).all(axis=1)
    for frame in frames[:3]:
        assert frame.colours is not None and np.array_equal(frame.colours, colours[kept]), frame.index
        assert np.array_equal(frame.points[:, :3], pts[kept][:, :3])
    assert frames[3].colours is None


def test_kitti_points_take_the_colour_of_the_camera_pixel_they_fall_on(tmp_path: Path) -> None:
    """--colour camera: camera 2's image through the drive's calibration. The image is magenta on its left half
    and green on its right, so the test needs no projection of its own: points ahead and to the left (+y in the
    LiDAR frame) must be magenta, ahead and to the right green, behind the car grey by intensity."""
    from PIL import Image

    drive = write_sample(sample_args(tmp_path, frames=2))
    with pytest.raises(SourceError, match="needs the left colour camera's images: 0"):
        KittiSource(tmp_path, "2011_09_26", "0001", colour="camera")
    images = drive / "image_02" / "data"
    images.mkdir(parents=True)
    picture = np.zeros((375, 1242, 3), np.uint8)
    picture[:, :621] = (255, 0, 255)
    picture[:, 621:] = (0, 255, 0)
    for k in range(2):
        Image.fromarray(picture).save(images / f"{k:010d}.png")
    frame = next(iter(KittiSource(tmp_path, "2011_09_26", "0001", colour="camera").frames()))
    assert frame.colours is not None and frame.colours.shape == (len(frame.points), 3)
    x, y = frame.points[:, 0], frame.points[:, 1]
    left = (x > 5) & (y > 0.1 * x) & (y < 0.5 * x)
    right = (x > 5) & (y < -0.1 * x) & (y > -0.5 * x)
    behind = x < -2
    assert left.sum() > 100 and right.sum() > 100 and behind.sum() > 100
    in_picture = (np.abs(frame.points[:, 2] / np.maximum(x, 1e-6)) < 0.2)  # within the camera's vertical view
    assert (frame.colours[left & in_picture] == (255, 0, 255)).all()
    assert (frame.colours[right & in_picture] == (0, 255, 0)).all()
    grey = np.rint(frame.points[behind, 3] * 255).astype(np.uint8)
    assert (frame.colours[behind] == grey[:, None]).all()
    with pytest.raises(SourceError, match="--colour camera applies to KITTI"):
        create_source(argparse.Namespace(source="synthetic", colour="camera", points=None, seed=1, fps=10.0))


def test_a_producer_closed_while_its_worker_starts_ends_it_instead_of_waiting(tmp_path: Path) -> None:
    """A streamer stopped in its first second neither waits for its producer to import and warm up, only to
    tell it to stop, nor leaves it behind; one that records waits, so that its file is closed properly."""
    from concurrent.futures.process import BrokenProcessPool

    from stream.encoder import EncoderOptions
    from stream.producer import FrameProducer

    source = SyntheticSource(SyntheticOptions(frames_per_pass=2))
    producer = FrameProducer(source, EncoderOptions(quantize_mm=5), loop=True)
    first = producer.submit(0, 0.0)
    producer.close()
    with pytest.raises(BrokenProcessPool):  # ended, not run to the end: waited for, it would hold a frame
        first.result(timeout=10)
    recording = FrameProducer(source, EncoderOptions(quantize_mm=5), loop=True, record=tmp_path / "r.mcap")
    recording.submit(0, 0.0)
    recording.close()
    assert (tmp_path / "r.mcap").read_bytes().endswith(b"\x89MCAP0\r\n")  # started, then closed properly
