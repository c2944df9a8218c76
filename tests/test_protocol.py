"""Wire format: layout, round trips, golden vectors shared with the JS decoder, and rejection."""
from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from stream.protocol import CHUNK_HEADER, MAX_MESSAGE_SIZE, ChunkHeader, Encoding, decode_chunk, encode_chunk
from tests.golden.make_golden import bad_messages, vectors

GOLDEN = Path(__file__).parent / "golden"
# Re-declared here on purpose: a silent change of the header layout must fail this test.
HEADER_LAYOUT = struct.Struct("<H B B I d H H I I I f f f f")


def header(encoding: Encoding = Encoding.FLOAT32, n: int = 100, step: float = 0.0, **kw: object) -> ChunkHeader:
    fields = dict(encoding=encoding, frame_id=3, capture_time=1795000000.5, chunk_index=0, chunk_count=1,
                  point_offset=0, point_count=n, frame_points=n, step=step, origin=(0.0, 0.0, 0.0))
    fields.update(kw)
    return ChunkHeader(**fields)  # type: ignore[arg-type]


def cloud(n: int, seed: int = 0, spread: float = 80.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-spread, spread, (n, 4)).astype(np.float32)
    pts[:, 3] = rng.uniform(0, 1, n)
    return pts


def test_header_layout_is_48_bytes_little_endian() -> None:
    assert CHUNK_HEADER.size == HEADER_LAYOUT.size == 48
    h = header(Encoding.INT16, n=7, step=0.005, frame_id=0x01020304, chunk_index=2, chunk_count=5,
               point_offset=9, frame_points=30, origin=(1.5, -2.0, 0.25))
    raw = h.pack()
    assert HEADER_LAYOUT.unpack(raw) == (0x4C50, 1, 1, 0x01020304, 1795000000.5, 2, 5, 9, 7, 30,
                                         pytest.approx(0.005), 1.5, -2.0, 0.25)
    assert raw[:2] == b"PL" and raw[4:8] == b"\x04\x03\x02\x01"


def test_float32_round_trip_is_exact() -> None:
    pts = cloud(1000)
    pts[0] = [np.float32(1e-38), np.float32(-3.4e38), 0.0, 1.0]
    chunk = decode_chunk(encode_chunk(header(n=1000), pts))
    assert chunk.points.dtype == np.float32
    assert np.array_equal(chunk.points, pts)
    assert chunk.header.capture_time == 1795000000.5


@pytest.mark.parametrize("step_mm", [1.0, 5.0, 20.0])
def test_quantized_round_trip_within_half_a_step(step_mm: float) -> None:
    step = step_mm / 1000
    spread = 30.0 if step_mm == 1.0 else 80.0  # int16 at 1 mm spans 65 m
    pts = cloud(2000, seed=1, spread=spread)
    chunk = decode_chunk(encode_chunk(header(Encoding.INT16, n=2000, step=step), pts))
    err = np.abs(chunk.points[:, :3] - pts[:, :3])
    # half a step, plus float32 rounding of the decoded coordinate (|x| <= 80 m)
    assert err.max() <= step / 2 + 80 * 2 ** -23
    assert np.abs(chunk.points[:, 3] - pts[:, 3]).max() <= 0.5 / 255 + 1e-7


def test_quantized_chunk_too_wide_for_int16_is_refused() -> None:
    with pytest.raises(ValueError, match="too wide for int16 at 1 mm"):
        encode_chunk(header(Encoding.INT16, n=100, step=0.001), cloud(100, spread=80))


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
    assert (chunk.header.encoding, chunk.header.frame_id, chunk.header.capture_time, chunk.header.chunk_index,
            chunk.header.chunk_count, chunk.header.point_offset, chunk.header.point_count,
            chunk.header.frame_points) == (h["encoding"], h["frameId"], h["captureTime"], h["chunkIndex"],
                                           h["chunkCount"], h["pointOffset"], h["pointCount"], h["framePoints"])
    assert np.array_equal(chunk.points, np.array(expected["points"], dtype=np.float32))


@pytest.mark.parametrize("name", sorted(vectors()))
def test_golden_vectors_are_what_the_streamers_encoder_writes_today(name: str) -> None:
    """Byte-identical re-encode by FrameEncoder, the code the streamer runs: neither the format nor the encoder
    (nor LZ4's output) has drifted from the fixtures the JS decoder is tested against too."""
    message, _ = vectors()[name].encode()
    assert message == (GOLDEN / f"{name}.bin").read_bytes()


def test_a_changed_encoder_byte_fails_the_golden_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    import stream.encoder
    real = stream.encoder.int16_payload

    def off_by_one(*args: object) -> object:
        payload, origin = real(*args)  # type: ignore[arg-type, misc]
        return payload, (origin[0] + 0.001, origin[1], origin[2])

    monkeypatch.setattr(stream.encoder, "int16_payload", off_by_one)
    message, _ = vectors()["int16_5mm"].encode()
    assert message != (GOLDEN / "int16_5mm.bin").read_bytes()


def test_bad_fixtures_match_the_generator() -> None:
    good = (GOLDEN / "float32_small.bin").read_bytes()
    for name, message in bad_messages(good).items():
        assert (GOLDEN / "bad" / f"{name}.bin").read_bytes() == message


@pytest.mark.parametrize("path", sorted((GOLDEN / "bad").glob("*.bin")), ids=lambda p: p.stem)
def test_bad_chunks_raise_value_error(path: Path) -> None:
    with pytest.raises(ValueError):
        decode_chunk(path.read_bytes())


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m[:10], "chunk too short: 10 bytes"),
    (lambda m: b"ZZ" + m[2:], "bad magic"),
    (lambda m: m[:-5], "corrupt LZ4 block"),
])
def test_error_messages_say_what_is_wrong(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    good = encode_chunk(header(n=50), cloud(50))
    with pytest.raises(ValueError, match=message):
        decode_chunk(mutate(good))


def test_random_mutations_raise_only_value_error() -> None:
    rng = random.Random(7)
    good = encode_chunk(header(Encoding.INT16, n=300, step=0.005), cloud(300))
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
    ({"version": 99}, "unsupported version"),
    ({"encoding": 7}, "unknown encoding"),
    ({"chunk_index": 3, "chunk_count": 3}, "out of range"),
    ({"point_count": 0}, "invalid point count"),
    ({"point_count": 2_000_000}, "invalid point count"),
    ({"frame_points": 2**22}, "exceeds the limit"),
    ({"point_offset": 90}, "exceed frame size"),
    ({"encoding": 1, "step": 5.0}, "invalid quantisation step"),
    ({"encoding": 1, "step": 0.005, "ox": float("nan")}, "invalid quantisation step"),
]


@pytest.mark.parametrize("fields, message", BAD_HEADERS)
def test_a_bad_header_is_refused_before_its_payload_is_decompressed(fields: dict[str, object], message: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind each bad header, a block that inflates 250-fold (a small decompression bomb): nothing may be
    decompressed. Mutation check: validating after decompressing calls the spy below."""
    import lz4.block
    names = ("magic", "version", "encoding", "frame_id", "capture_time", "chunk_index", "chunk_count",
             "point_offset", "point_count", "frame_points", "step", "ox", "oy", "oz")
    good = dict(zip(names, HEADER_LAYOUT.unpack(header(n=100, frame_points=100).pack())))
    bomb = lz4.block.compress(bytes(1_000_000), store_size=False)
    calls: list[int] = []
    monkeypatch.setattr(lz4.block, "decompress", lambda *a, **k: calls.append(1) or b"")
    with pytest.raises(ValueError, match=message):
        decode_chunk(HEADER_LAYOUT.pack(*{**good, **fields}.values()) + bomb)
    assert not calls
    with pytest.raises(ValueError, match="payload decodes to 0 bytes"):  # a good header does reach the spy
        decode_chunk(HEADER_LAYOUT.pack(*good.values()) + bomb)
    assert calls == [1]
