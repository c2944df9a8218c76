"""Point-chunk wire format: one self-contained data-channel message per chunk.

Byte-by-byte description: docs/protocol.md. All integers and floats are little-endian.

A message is a fixed 48-byte header (``CHUNK_HEADER``) followed by one LZ4 *block* (no
frame header) holding ``point_count`` records, byte-transposed: the payload is the
``point_count × record_size`` byte matrix of the records, stored column-major (all first
bytes, then all second bytes, ...). Transposing groups the similar high bytes of floats and
integers together, which LZ4 compresses much better than interleaved records.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, replace

import lz4.block
import numpy as np

from data.source import MAX_FRAME_POINTS

MAGIC = 0x4C50  # bytes "PL" on the wire
VERSION = 1

#: Header of every point chunk; see "PointChunk" in docs/protocol.md.
CHUNK_HEADER = struct.Struct("<HBBIdHHIIIf3f")
assert CHUNK_HEADER.size == 48

#: Largest message we ever send: aiortc assumes 65536 when the peer states no max-message-size.
MAX_MESSAGE_SIZE = 65536
#: Largest point count one chunk may declare (bounds the decoder's allocation).
MAX_CHUNK_POINTS = (MAX_MESSAGE_SIZE * 255) // 16
MAX_STEP = 1.0
"""Largest INT16 quantisation step, metres; with a finite origin it keeps decoded points finite."""


class Encoding(enum.IntEnum):
    """How one point is stored in the (decompressed) payload."""

    FLOAT32 = 0
    """x, y, z, intensity as float32: 16 bytes per point, lossless."""
    INT16 = 1
    """x, y, z as int16 steps from the chunk origin, intensity as uint8 (0..255 ↔ 0..1): 7 bytes."""


RECORD_SIZE = {Encoding.FLOAT32: 16, Encoding.INT16: 7}
FLOAT32_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class ChunkHeader:
    """Decoded header of one point chunk."""

    encoding: Encoding
    frame_id: int
    """Increases by one per source frame (wraps at 2**32)."""
    capture_time: float
    """Sender wall clock when the frame was captured, seconds since the Unix epoch."""
    chunk_index: int
    chunk_count: int
    point_offset: int
    """Index of this chunk's first point within the frame."""
    point_count: int
    frame_points: int
    """Points in the whole frame."""
    step: float
    """Quantisation step in metres (INT16); 0 for FLOAT32."""
    origin: tuple[float, float, float]
    """Chunk origin in metres (INT16); zeros for FLOAT32."""

    def pack(self) -> bytes:
        return CHUNK_HEADER.pack(
            MAGIC, VERSION, int(self.encoding), self.frame_id, self.capture_time,
            self.chunk_index, self.chunk_count, self.point_offset, self.point_count,
            self.frame_points, self.step, *self.origin,
        )


@dataclass(frozen=True)
class Chunk:
    header: ChunkHeader
    points: np.ndarray
    """point_count × 4 float32: x, y, z, intensity."""


def transpose_bytes(records: np.ndarray) -> bytes:
    """Byte-transpose an array of fixed-size records (N × R bytes → R × N bytes)."""
    raw = np.ascontiguousarray(records).view(np.uint8).reshape(len(records), -1)
    return raw.T.tobytes()


def untranspose_bytes(payload: bytes, count: int, record_size: int) -> np.ndarray:
    """Inverse of transpose_bytes: returns an N × R uint8 array."""
    planes = np.frombuffer(payload, dtype=np.uint8).reshape(record_size, count)
    return np.ascontiguousarray(planes.T)


class QuantGrid:
    """Points quantised once onto the global grid of ``step``; each chunk re-centres on its own origin.

    Rounding every coordinate to the nearest grid point first, then subtracting an integer chunk
    origin, is quantising each chunk around its origin; done for a whole frame it costs one
    vectorised pass instead of one per chunk.
    """

    def __init__(self, points: np.ndarray, step: float) -> None:
        self.step = step
        self.q = np.ascontiguousarray(np.rint(points[:, :3].T.astype(np.float64) / step).astype(np.int64))
        self.intensity = np.rint(np.clip(points[:, 3], 0.0, 1.0) * 255.0).astype(np.uint8)

    def planes(self, start: int, stop: int) -> tuple[bytes, tuple[float, float, float]] | None:
        """Byte-transposed INT16 records of points start..stop and their origin in metres, or None
        if the points span more than int16 can at this step."""
        q = self.q[:, start:stop]
        lo, hi = q.min(axis=1), q.max(axis=1)
        centre = (lo + hi) // 2
        if int((hi - centre).max()) > 32767 or int((lo - centre).min()) < -32768:
            return None
        k = stop - start
        rel = (q - centre[:, None]).astype("<i2", order="C")
        out = np.empty((7, k), dtype=np.uint8)
        out[:6] = rel.view(np.uint8).reshape(3, k, 2).transpose(0, 2, 1).reshape(6, k)
        out[6] = self.intensity[start:stop]
        origin = (float(centre[0] * self.step), float(centre[1] * self.step), float(centre[2] * self.step))
        return out.tobytes(), origin


def encode_payload(encoding: Encoding, step: float, points: np.ndarray) -> tuple[bytes, tuple[float, float, float]]:
    """Compress one chunk's points; returns the LZ4 block and the chunk origin (zeros for FLOAT32).

    Raises ValueError when an INT16 chunk is wider than int16 can span at ``step``.
    """
    if encoding == Encoding.FLOAT32:
        planes = transpose_bytes(np.ascontiguousarray(points, dtype=FLOAT32_DTYPE))
        origin = (0.0, 0.0, 0.0)
    else:
        compressed = int16_payload(QuantGrid(points, step), 0, len(points))
        if compressed is None:
            span = float(np.ptp(points[:, :3], axis=0).max())
            raise ValueError(f"chunk spans {span:.1f} m: too wide for int16 at {step * 1000:g} mm")
        return compressed
    return lz4.block.compress(planes, store_size=False), origin


def int16_payload(grid: QuantGrid, start: int, stop: int) -> tuple[bytes, tuple[float, float, float]] | None:
    """The INT16 payload (LZ4 block) of points start..stop of a quantised frame and its origin; None when they
    span more than int16 can at the grid's step."""
    quantized = grid.planes(start, stop)
    if quantized is None:
        return None
    planes, origin = quantized
    return lz4.block.compress(planes, store_size=False), origin


def encode_chunk(header: ChunkHeader, points: np.ndarray) -> bytes:
    """Encode one chunk. For INT16 the header's step is used and its origin is computed here."""
    if len(points) != header.point_count:
        raise ValueError(f"header says {header.point_count} points, got {len(points)}")
    payload, origin = encode_payload(header.encoding, header.step, points)
    message = replace(header, origin=origin).pack() + payload
    if len(message) > MAX_MESSAGE_SIZE:
        raise ValueError(f"chunk message is {len(message)} bytes, more than {MAX_MESSAGE_SIZE}")
    return message


def decode_header(message: bytes) -> ChunkHeader:
    """Parse and validate a chunk header. Raises ValueError on anything malformed."""
    if len(message) < CHUNK_HEADER.size:
        raise ValueError(f"chunk too short: {len(message)} bytes, header needs {CHUNK_HEADER.size}")
    (magic, version, encoding, frame_id, capture_time, chunk_index, chunk_count,
     point_offset, point_count, frame_points, step, ox, oy, oz) = CHUNK_HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError(f"bad magic 0x{magic:04x}")
    if version != VERSION:
        raise ValueError(f"unsupported version {version}")
    if encoding not in RECORD_SIZE:
        raise ValueError(f"unknown encoding {encoding}")
    if chunk_count == 0 or chunk_index >= chunk_count:
        raise ValueError(f"chunk index {chunk_index} out of range for count {chunk_count}")
    if point_count == 0 or point_count > MAX_CHUNK_POINTS:
        raise ValueError(f"invalid point count {point_count}")
    if frame_points > MAX_FRAME_POINTS:
        raise ValueError(f"frame size {frame_points} exceeds the limit of {MAX_FRAME_POINTS} points")
    if point_offset + point_count > frame_points:
        raise ValueError(f"points {point_offset}+{point_count} exceed frame size {frame_points}")
    if encoding == Encoding.INT16 and not (0 < step <= MAX_STEP and np.isfinite((ox, oy, oz)).all()):
        raise ValueError(f"invalid quantisation step {step} or origin {(ox, oy, oz)}")
    return ChunkHeader(Encoding(encoding), frame_id, capture_time, chunk_index, chunk_count,
                       point_offset, point_count, frame_points, step, (ox, oy, oz))


def decode_chunk(message: bytes) -> Chunk:
    """Decode one message into its header and point_count × 4 float32 points.

    Raises ValueError for truncated, garbled or inconsistent input.
    """
    header = decode_header(message)
    record_size = RECORD_SIZE[header.encoding]
    expected = header.point_count * record_size
    try:
        payload = lz4.block.decompress(memoryview(message)[CHUNK_HEADER.size:], uncompressed_size=expected)
    except lz4.block.LZ4BlockError as exc:
        raise ValueError(f"corrupt LZ4 block: {exc}") from None
    if len(payload) != expected:
        raise ValueError(f"payload decodes to {len(payload)} bytes, expected {expected}")
    rows = untranspose_bytes(payload, header.point_count, record_size)
    if header.encoding == Encoding.FLOAT32:
        points = rows.view(FLOAT32_DTYPE).reshape(header.point_count, 4)
    else:
        q = rows[:, :6].copy().view("<i2")
        points = np.empty((header.point_count, 4), dtype=np.float32)
        points[:, :3] = np.asarray(header.origin) + q * np.float64(header.step)
        points[:, 3] = rows[:, 6] / 255.0  # in float64, then rounded once, exactly as the JS decoder does
    return Chunk(header, points)
