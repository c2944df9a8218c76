"""Wire format: layout, round trips, golden vectors shared with the JS decoder, and rejection."""
from __future__ import annotations

import json
import random
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stream.protocol import (CHUNK_HEADER, MAX_MESSAGE_SIZE, ChunkHeader, Encoding, decode_chunk, decode_header,
                             encode_chunk, with_chunks_sent)
from tests.golden.make_golden import BAD_SOURCES, bad_messages, vectors
from tests.helpers import grid_error_bound

GOLDEN = Path(__file__).parent / "golden"
# Re-declared here on purpose: a silent change of the header layout must fail this test.
HEADER_LAYOUT = struct.Struct("<H B B I d H H H I I I f I B B B I i i i B")


def header(encoding: Encoding = Encoding.FLOAT32, n: int = 100, step: float = 0.0, **kw: object) -> ChunkHeader:
    fields = dict(encoding=encoding, frame_id=3, capture_time=1795000000.5, chunk_index=0, chunk_count=1, chunks_sent=1,
                  point_offset=0, point_count=n, frame_points=n, step=step)
    fields.update(kw)
    return ChunkHeader(**fields)  # type: ignore[arg-type]


def cloud(n: int, seed: int = 0, spread: float = 80.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-spread, spread, (n, 4)).astype(np.float32)
    pts[:, 3] = rng.uniform(0, 1, n)
    return pts


def test_header_layout_is_62_bytes_little_endian() -> None:
    assert CHUNK_HEADER.size == HEADER_LAYOUT.size == 62
    h = header(Encoding.SPHERICAL, n=7, step=0.005, frame_id=0x01020304, chunk_index=2, chunk_count=5,
               chunks_sent=4, point_offset=9, frame_points=30, turn=1000, bases=(7, -8, 9), azimuth_step=-12, flags=1)
    raw = h.pack()
    assert HEADER_LAYOUT.unpack(raw) == (0x4C50, 5, 1, 0x01020304, 1795000000.5, 2, 5, 4, 9, 7, 30,
                                         pytest.approx(0.005), 1000, 0, 0, 0, 7, -8, 9, -12, 1)
    assert decode_header(with_chunks_sent(raw, 3)) == replace(h, chunks_sent=3, step=pytest.approx(0.005))
    assert raw[:2] == b"PL" and raw[4:8] == b"\x04\x03\x02\x01"


def test_float32_round_trip_is_exact() -> None:
    pts = cloud(1000)
    pts[0] = [np.float32(1e-38), np.float32(-3.4e38), 0.0, 1.0]
    pts[1] = [np.nan, np.inf, -np.inf, -0.0]
    chunk = decode_chunk(encode_chunk(header(n=1000), pts))
    assert chunk.points.dtype == np.float32
    assert chunk.points.tobytes() == pts.tobytes()
    assert chunk.header.capture_time == 1795000000.5


def spherical_error(step_mm: float, pts: np.ndarray) -> tuple[float, float]:
    """Largest distance between a point and its decoded self, and largest intensity error."""
    chunk = decode_chunk(encode_chunk(header(Encoding.SPHERICAL, n=len(pts), step=step_mm / 1000), pts))
    distance = np.linalg.norm(chunk.points[:, :3].astype(np.float64) - pts[:, :3], axis=1)
    return float(distance.max()), float(np.abs(chunk.points[:, 3] - pts[:, 3]).max())


@pytest.mark.parametrize("step_mm", [1.0, 5.0, 20.0])
@pytest.mark.parametrize("spread", [1.0, 80.0, 3000.0])
def test_spherical_round_trip_is_within_the_grid_bound(step_mm: float, spread: float) -> None:
    """Every point within step·√3/2 of the original (the bound of rounding x, y, z to the step): the
    angle step is fitted to the chunk's farthest point."""
    pts = cloud(2000, seed=1, spread=spread)
    pts[0, :3] = 0.0  # the sensor's own position: no direction at all
    distance, intensity = spherical_error(step_mm, pts)
    # plus float32 rounding of the decoded coordinates (|x| <= spread)
    assert distance <= grid_error_bound(step_mm / 1000, spread)
    assert intensity <= 0.5 / 255 + 1e-7


def test_spherical_round_trip_of_a_scan_crosses_pi_without_a_jump() -> None:
    """A ring crossing ±π is unwrapped: every azimuth residual stays small (nothing near a turn), the
    typical step is the ring's, and the points decode to the right side."""
    turns = np.linspace(0.9 * np.pi, 1.1 * np.pi, 500)
    pts = np.column_stack([10 * np.cos(turns), 10 * np.sin(turns), np.full(500, -1.5), np.full(500, 0.5)])
    pts = pts.astype(np.float32)
    message = encode_chunk(header(Encoding.SPHERICAL, n=500, step=0.005), pts)
    chunk = decode_chunk(message)
    # ranges, azimuth steps and elevation constant: all residuals 0, a fraction of a bit each
    assert len(message) - CHUNK_HEADER.size < 500 * 9 / 8
    angle_step = 2 * np.pi / chunk.header.turn
    assert chunk.header.azimuth_step * angle_step == pytest.approx(0.2 * np.pi / 499, abs=angle_step)
    assert np.linalg.norm(chunk.points[:, :3] - pts[:, :3], axis=1).max() <= 0.005 * np.sqrt(3) / 2 + 1e-5


def test_spherical_angles_are_coarser_near_the_sensor() -> None:
    """A point's angles are rounded to a power of two of the chunk's angle unit that its range allows: the
    near half of a chunk reaching 80 m costs fewer bits than the same points alone at the chunk's unit."""
    rng = np.random.default_rng(5)
    azimuth = np.linspace(-np.pi, np.pi, 2000, endpoint=False)
    ranges = np.where(np.arange(2000) < 1990, rng.uniform(4, 6, 2000), 80.0)
    pts = np.column_stack([ranges * np.cos(azimuth), ranges * np.sin(azimuth), rng.normal(-1.7, 0.01, 2000),
                           rng.uniform(0, 1, 2000)]).astype(np.float32)
    near = encode_chunk(header(Encoding.SPHERICAL, n=2000, step=0.001), pts)
    chunk = decode_chunk(near)
    import codec.spherical
    levels = codec.spherical.levels(np.rint(ranges / 0.001).astype(np.int64), chunk.header.turn)
    assert levels[:1990].min() >= 3 and levels[1990:].max() == 0
    distance = np.linalg.norm(chunk.points[:, :3].astype(np.float64) - pts[:, :3], axis=1)
    assert distance.max() <= grid_error_bound(0.001, 80)


def test_spherical_refuses_points_it_cannot_code() -> None:
    pts = cloud(10)
    for bad in (np.nan, np.inf, -np.inf):
        pts[3, 1] = bad
        with pytest.raises(ValueError, match="not finite"):
            encode_chunk(header(Encoding.SPHERICAL, n=10, step=0.001), pts)
    pts[3, 1] = 3e6
    with pytest.raises(ValueError, match="too far for a 1 mm step"):
        encode_chunk(header(Encoding.SPHERICAL, n=10, step=0.001), pts)


def test_message_size_limit() -> None:
    n = 4500  # 72,000 bytes of incompressible noise
    noise = np.random.default_rng(3).integers(0, 2**32, (n, 4), dtype=np.uint32).view(np.float32)
    with pytest.raises(ValueError, match=f"more than {MAX_MESSAGE_SIZE}"):
        encode_chunk(header(n=n), noise)


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.bin")))
def test_golden_vectors_decode_to_their_json(name: str) -> None:
    message = (GOLDEN / f"{name}.bin").read_bytes()
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    chunk = decode_chunk(message)
    h = expected["header"]
    c = chunk.header
    assert (c.encoding, c.frame_id, c.capture_time, c.chunk_index, c.chunk_count, c.chunks_sent, c.point_offset,
            c.point_count, c.frame_points, c.step, c.turn, list(c.widths), list(c.bases), c.azimuth_step, c.flags) == (
        h["encoding"], h["frameId"], h["captureTime"], h["chunkIndex"], h["chunkCount"], h["chunksSent"],
        h["pointOffset"], h["pointCount"], h["framePoints"], h["step"], h["turn"], h["widths"], h["bases"],
        h["azimuthStep"], h["flags"])
    assert np.array_equal(chunk.points, np.array(expected["points"], dtype=np.float32))
    if "colours" in expected:  # what went in comes out, byte for byte
        assert chunk.colours is not None and chunk.colours.tolist() == expected["colours"] == expected["inputColours"]
    else:
        assert chunk.colours is None


@pytest.mark.parametrize("name", sorted(vectors()))
def test_golden_vectors_are_what_the_streamers_encoder_writes_today(name: str) -> None:
    """Byte-identical re-encode by FrameEncoder, the code the streamer runs: neither the format nor the encoder
    (nor zstd's output) has drifted from the fixtures the JS decoder is tested against too."""
    message, _ = vectors()[name].encode()
    assert message == (GOLDEN / f"{name}.bin").read_bytes()


def test_a_changed_encoder_byte_fails_the_golden_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    import codec.spherical
    real = codec.spherical.SphericalFrame.chunks

    def bases_off_by_one(self: codec.spherical.SphericalFrame, bounds: object) -> object:
        return [replace(p, bases=(p.bases[0] + 1, *p.bases[1:])) for p in real(self, bounds)]  # type: ignore

    monkeypatch.setattr(codec.spherical.SphericalFrame, "chunks", bases_off_by_one)
    message, _ = vectors()["spherical_5mm"].encode()
    assert message != (GOLDEN / "spherical_5mm.bin").read_bytes()


def test_bad_fixtures_match_the_generator() -> None:
    sources = [(GOLDEN / f"{name}.bin").read_bytes() for name in BAD_SOURCES]
    for name, message in bad_messages(*sources).items():
        assert (GOLDEN / "bad" / f"{name}.bin").read_bytes() == message


@pytest.mark.parametrize("path", sorted((GOLDEN / "bad").glob("*.bin")), ids=lambda p: p.stem)
def test_bad_chunks_raise_value_error(path: Path) -> None:
    with pytest.raises(ValueError):
        decode_chunk(path.read_bytes())


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m[:10], "chunk too short: 10 bytes"),
    (lambda m: b"ZZ" + m[2:], "bad magic"),
    (lambda m: m[:-5], "corrupt zstd frame|cut off"),
    (lambda m: m + b"x", "1 bytes after the zstd frame"),
])
def test_error_messages_say_what_is_wrong(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    good = encode_chunk(header(n=50), cloud(50))
    with pytest.raises(ValueError, match=message):
        decode_chunk(mutate(good))


def test_random_mutations_raise_only_value_error() -> None:
    rng = random.Random(7)
    good = encode_chunk(header(Encoding.SPHERICAL, n=300, step=0.005), cloud(300))
    rejected = 0
    for i in range(3000):
        m = bytearray(good)
        kind = i % 4
        if kind == 0:
            m = m[:rng.randrange(len(m))]
        elif kind == 1:
            pos = rng.randrange(CHUNK_HEADER.size, len(m))
            m[pos] ^= 1 << rng.randrange(8)
        elif kind == 2:
            m[rng.randrange(CHUNK_HEADER.size)] = rng.randrange(256)
        else:
            m = bytearray(rng.randbytes(rng.randrange(600)))
        try:
            chunk = decode_chunk(bytes(m))
        except ValueError:
            rejected += 1
            continue
        assert chunk.points.shape == (chunk.header.point_count, 4)
    assert rejected > 1500


BAD_HEADERS = [  # (field values that break the header, what the error says)
    ({"magic": 0x1234}, "bad magic"),
    ({"version": 1}, "unsupported version"),
    ({"encoding": 7}, "unknown encoding"),
    ({"chunk_index": 3, "chunk_count": 4, "chunks_sent": 3}, "out of range for 3 chunks sent"),
    ({"chunk_count": 3, "chunks_sent": 4}, "4 chunks sent of 3"),
    ({"chunks_sent": 0}, "0 chunks sent of 1"),
    ({"point_count": 0}, "invalid point count"),
    ({"point_count": 2_000_000}, "invalid point count"),
    ({"frame_points": 2**22}, "exceeds the limit"),
    ({"point_offset": 90}, "exceed frame size"),
    ({"step": 5.0}, "invalid quantisation step"),
    ({"step": float("nan")}, "invalid quantisation step"),
    ({"turn": 3}, "invalid angle steps per turn"),
    ({"turn": 2**30 + 1}, "invalid angle steps per turn"),
    ({"w_azimuth": 5}, "reserved bytes are not zero"),
    ({"flags": 0x40}, "unknown flags 0x40"),
    ({"b_range": 2**31}, "invalid first range"),
    ({"encoding": 0}, "a FLOAT32 chunk has quantisation fields"),
]


@pytest.mark.parametrize("fields, message", BAD_HEADERS)
def test_a_bad_header_is_refused_before_its_payload_is_decoded(fields: dict[str, object], message: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind each bad header, a payload: nothing of it may be decoded. Mutation check: validating after
    decoding calls the spies below."""
    import codec.spherical
    import codec.zstd_payload
    names = ("magic", "version", "encoding", "frame_id", "capture_time", "chunk_index", "chunk_count",
             "chunks_sent", "point_offset", "point_count", "frame_points", "step", "turn", "w_range", "w_azimuth",
             "w_elevation", "b_range", "b_azimuth", "b_elevation", "azimuth_step", "flags")
    good = dict(zip(names, HEADER_LAYOUT.unpack(header(Encoding.SPHERICAL, n=100, step=0.005, turn=100,
                                                       bases=(1, 2, 3)).pack())))
    payload = bytes(400)
    calls: list[int] = []
    monkeypatch.setattr(codec.zstd_payload, "decompress_exact", lambda _, size: calls.append(1) or bytes(size))
    monkeypatch.setattr(codec.spherical, "decode",
                        lambda body, n, *_: calls.append(1) or (np.zeros((n, 4), np.float32), len(body)))
    with pytest.raises(ValueError, match=message):
        decode_chunk(HEADER_LAYOUT.pack(*{**good, **fields}.values()) + payload)
    assert not calls
    decode_chunk(HEADER_LAYOUT.pack(*good.values()) + payload)  # a good header does reach the spy
    assert calls == [1]


def test_a_frame_declaring_another_size_is_refused_before_decompressing() -> None:
    """The zstd frame's own declared size must be what the header implies: 16 bytes a float32 point
    (1000-fold bomb, declared)."""
    import codec.zstd_payload
    good = header(Encoding.FLOAT32, n=100).pack()
    with pytest.raises(ValueError, match="declares 1000000 bytes, the header implies 1600"):
        decode_chunk(good + codec.zstd_payload.compress(bytes(1_000_000)))
