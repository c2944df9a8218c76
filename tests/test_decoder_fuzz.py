"""10,000+ mutated and random chunks through the Python frame assembler: no exception escapes, every
bad chunk is counted, memory stays bounded, and the next good frame still assembles.
(The JS decoder gets the same treatment in client/test/fuzz.test.js.)"""
from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np

from codec import zstd_payload

from headless.assembler import AssembledFrame, FrameAssembler
from stream.encoder import EncoderOptions, FrameEncoder
from stream.protocol import CHUNK_HEADER, MAX_CHUNK_POINTS, MAX_FRAME_POINTS, MAX_MESSAGE_SIZE, VERSION

GOLDEN = Path(__file__).resolve().parent / "golden"
ROUNDS = 10_000
#: header fields a mutation may overwrite: (offset, struct format)
FIELDS = [(4, "<I"), (16, "<H"), (18, "<H"), (20, "<H"), (22, "<I"), (26, "<I"), (30, "<I"), (34, "<f"),
          (38, "<I"), (42, "<B"), (43, "<B"), (44, "<B"), (45, "<I"), (49, "<i"), (53, "<i"), (57, "<i"), (61, "<B")]
EXTREMES = [0, 1, 2, 0xFFFF, 0xFFFFFFFF, MAX_CHUNK_POINTS, MAX_CHUNK_POINTS + 1, MAX_FRAME_POINTS,
            MAX_FRAME_POINTS + 1]


def seeds() -> list[bytes]:
    good = [p.read_bytes() for p in sorted(GOLDEN.glob("*.bin"))]
    points = np.random.default_rng(5).uniform(-50, 50, (3000, 4)).astype(np.float32)
    for options in (EncoderOptions(quantize_mm=0), EncoderOptions(quantize_mm=5)):
        good += FrameEncoder(options).encode(1, 0.0, points).messages
    return good


def mutate(rng: np.random.Generator, seed: bytes) -> bytes:
    kind = rng.integers(7)
    data = bytearray(seed)
    if kind == 0:  # truncated anywhere
        return bytes(data[: rng.integers(len(data) + 1)])
    if kind == 1:  # a few bit flips anywhere
        for _ in range(rng.integers(1, 9)):
            i = rng.integers(len(data))
            data[i] ^= 1 << int(rng.integers(8))
        return bytes(data)
    if kind == 2:  # a header field set to an extreme or random value (wrong counts, huge sizes)
        offset, fmt = FIELDS[rng.integers(len(FIELDS))]
        size = struct.calcsize(fmt)
        if fmt == "<f":
            value = float(rng.choice([0.0, -1.0, np.inf, np.nan, 1e30, 1e-30]))
        else:
            value = int(rng.choice(EXTREMES)) if rng.random() < 0.6 else int(rng.integers(1 << (8 * size)))
            value &= (1 << (8 * size)) - 1
            if fmt == "<i" and value >= 1 << 31:
                value -= 1 << 32
        data[offset:offset + size] = struct.pack(fmt, value)
        return bytes(data)
    if kind == 3:  # the payload replaced by garbage of random length
        return bytes(data[:CHUNK_HEADER.size]) + rng.bytes(int(rng.integers(0, 3000)))
    if kind == 4:  # garbage appended
        return bytes(data) + rng.bytes(int(rng.integers(1, 200)))
    if kind == 5:  # nothing but random bytes, sometimes with the right magic
        noise = bytearray(rng.bytes(int(rng.integers(0, 4000))))
        if len(noise) >= 2 and rng.random() < 0.5:
            noise[0:2] = b"\x50\x4c"
        return bytes(noise)
    # the payload of another chunk under this header (a plausible, well-formed, wrong zstd frame)
    other = seeds_cache[rng.integers(len(seeds_cache))]
    return bytes(data[:CHUNK_HEADER.size]) + other[CHUNK_HEADER.size:]


seeds_cache = seeds()


def zstd_bomb(points: int, frame_points: int) -> bytes:
    """A small, valid message that expands to ``points`` × 16 bytes (all zeros)."""
    header = CHUNK_HEADER.pack(0x4C50, VERSION, 0, 99, 0.0, 0, 1, 1, 0, points, frame_points, 0.0, 0, 0, 0, 0, 0, 0, 0,
                               0, 0)
    return header + zstd_payload.compress(bytes(points * 16))


def test_ten_thousand_bad_chunks_are_counted_and_nothing_escapes() -> None:
    frames: list[AssembledFrame] = []
    assembler = FrameAssembler(frames.append, clock=lambda: 0.0)
    rng = np.random.default_rng(20261124)
    tracemalloc.start()
    pushed = 0
    try:
        for _ in range(ROUNDS):
            message = mutate(rng, seeds_cache[rng.integers(len(seeds_cache))])
            assembler.push(message)  # must not raise, whatever the bytes
            pushed += 1
        # decompression bombs: as much as one 64 KiB message may claim, and more than it may
        biggest = zstd_bomb(MAX_CHUNK_POINTS // 16, MAX_FRAME_POINTS)
        assert len(biggest) <= MAX_MESSAGE_SIZE
        for message in (biggest, zstd_bomb(1000, 10), zstd_bomb(MAX_CHUNK_POINTS // 16, MAX_FRAME_POINTS + 1)):
            assembler.push(message)
            pushed += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    s = assembler.stats
    accounted = s.bad_chunks + s.chunks_received + s.late_chunks + s.duplicate_chunks
    assert accounted == pushed
    assert s.bad_chunks > ROUNDS // 2, s  # most mutations are caught as bad, and each is counted
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MiB"  # bounded: one frame buffer plus one chunk

    # the assembler is still sound: a fresh, newer frame assembles completely
    next_id = ((assembler.newest_frame_id or 0) + 1) & 0xFFFFFFFF
    good = FrameEncoder(EncoderOptions(quantize_mm=0)).encode(next_id, 1.0, np.ones((5000, 4), np.float32))
    assembler.flush()
    frames.clear()
    for chunk in good.messages:
        assembler.push(chunk)
    assert frames and frames[-1].complete and np.array_equal(frames[-1].points, np.ones((5000, 4), np.float32))


def test_a_chunk_claiming_a_huge_frame_allocates_nothing() -> None:
    assembler = FrameAssembler(lambda f: None, clock=lambda: 0.0)
    tracemalloc.start()
    try:
        assembler.push(zstd_bomb(10, 0xFFFFFFFF))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert assembler.stats.bad_chunks == 1
    assert peak < 2**20
