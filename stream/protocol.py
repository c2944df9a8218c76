"""Point-chunk wire format: one self-contained data-channel message per chunk.

Byte-by-byte description: docs/protocol.md. All integers and floats are little-endian.

A message is a fixed 62-byte header (``CHUNK_HEADER``) followed by the chunk's points in the header's
encoding: a Zstandard frame of float32 planes (codec/float32.py, with the colours in the same frame when
the header's COLOUR flag is set), or SPHERICAL's range-coded payload (codec/spherical.py, then a Zstandard
frame of the colours when COLOUR is set). A chunk needs nothing but itself to decode: no other
chunk, no other frame.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

from codec import colour, float32, spherical, zstd_payload
from data.source import MAX_FRAME_POINTS

MAGIC = 0x4C50  # bytes "PL" on the wire
VERSION = 5
COLOUR = 0x80
"""Header flag, either encoding: a colour plane follows the points (codec/colour.py)."""

#: Header of every point chunk; see "PointChunk" in docs/protocol.md.
CHUNK_HEADER = struct.Struct("<HBBIdHHHIIIfIBBBIiiiB")
assert CHUNK_HEADER.size == 62
#: Where chunks_sent is in the header: the only field a sender changes per viewer (``with_chunks_sent``).
CHUNKS_SENT_OFFSET = 20

#: Largest message we ever send: aiortc assumes 65536 when the peer states no max-message-size.
MAX_MESSAGE_SIZE = 65536
#: Largest point count one chunk may declare (bounds the decoder's allocation).
MAX_CHUNK_POINTS = (MAX_MESSAGE_SIZE * 255) // 16
MAX_STEP = 1.0
"""Largest quantisation step, metres."""


class Encoding(enum.IntEnum):
    """How the points of a chunk are stored in its payload."""

    FLOAT32 = 0
    """x, y, z, intensity as float32, lossless (codec/float32.py)."""
    SPHERICAL = 1
    """Range, azimuth, elevation quantised at a step, intensity as uint8 (codec/spherical.py)."""


Widths = tuple[int, int, int]
Bases = tuple[int, int, int]


@dataclass(frozen=True)
class ChunkHeader:
    """Decoded header of one point chunk."""

    encoding: Encoding
    frame_id: int
    """Increases by one per source frame (wraps at 2**32)."""
    capture_time: float
    """Sender wall clock when the frame was captured, seconds since the Unix epoch."""
    chunk_index: int
    """Position of the chunk in the frame's send order (stream/encoder.py, progressive_order)."""
    chunk_count: int
    """Chunks of the whole frame."""
    chunks_sent: int
    """Chunks of this frame the sender sends this viewer: the first ``chunks_sent`` of the send order."""
    point_offset: int
    """Index of this chunk's first point within the frame."""
    point_count: int
    frame_points: int
    """Points in the whole frame."""
    step: float = 0.0
    """SPHERICAL: range step in metres; 0 for FLOAT32."""
    turn: int = 0
    """SPHERICAL: angle steps per full turn; 0 for FLOAT32."""
    widths: Widths = (0, 0, 0)
    """Reserved, zeros (version 4's exception widths)."""
    bases: Bases = (0, 0, 0)
    """SPHERICAL: the first point's range, azimuth and elevation integers; zeros for FLOAT32."""
    azimuth_step: int = 0
    """SPHERICAL: the typical azimuth difference, in angle steps, that residuals are taken from; 0 for FLOAT32."""
    flags: int = 0
    """COLOUR (bit 7, either encoding); SPHERICAL also codec/spherical.FLAGS (bit 0: intensity as differences)."""

    def pack(self) -> bytes:
        return CHUNK_HEADER.pack(
            MAGIC, VERSION, int(self.encoding), self.frame_id, self.capture_time,
            self.chunk_index, self.chunk_count, self.chunks_sent, self.point_offset, self.point_count,
            self.frame_points, self.step, self.turn, *self.widths, *self.bases, self.azimuth_step, self.flags,
        )

    @property
    def coloured(self) -> bool:
        return bool(self.flags & COLOUR)

    @property
    def zstd_size(self) -> int:
        """Bytes of the Zstandard frame after the header (FLOAT32) or after the range-coded points (SPHERICAL
        with colours)."""
        extra = self.point_count * colour.BYTES_PER_POINT if self.coloured else 0
        if self.encoding == Encoding.FLOAT32:
            return self.point_count * float32.RAW_BYTES_PER_POINT + extra
        return extra


@dataclass(frozen=True)
class Chunk:
    header: ChunkHeader
    points: np.ndarray
    """point_count × 4 float32: x, y, z, intensity."""
    colours: np.ndarray | None = None
    """point_count × 3 uint8 red, green, blue; None when the chunk has no colour plane."""


def encode_chunk(header: ChunkHeader, points: np.ndarray, colours: np.ndarray | None = None) -> bytes:
    """Encode ``points`` (and ``colours``, N × 3 uint8) as one chunk: the header's encoding and step; the
    header's turn, widths, bases and flags are computed here. Raises ValueError if they do not fit the format."""
    if len(points) != header.point_count:
        raise ValueError(f"header says {header.point_count} points, got {len(points)}")
    if header.encoding == Encoding.FLOAT32:
        fields = {"step": 0.0, "turn": 0, "widths": (0, 0, 0), "bases": (0, 0, 0), "azimuth_step": 0, "flags": 0}
        sections = tuple(float32.raw_planes(points))
    else:
        frame = spherical.SphericalFrame(points, header.step)
        planes = frame.chunks([(0, len(points))])[0]
        fields = {"step": frame.step, "turn": planes.turn, "widths": (0, 0, 0), "bases": planes.bases,
                  "azimuth_step": planes.azimuth_step, "flags": planes.flags}
        coded = planes.payload
    colour_planes: tuple[bytes, ...] = ()
    if colours is not None:
        fields["flags"] |= COLOUR
        colour_planes = tuple(colour.planes(colours, [(0, len(points))]))
    full = ChunkHeader(**{**header.__dict__, **fields})
    if header.encoding == Encoding.FLOAT32:
        message = full.pack() + zstd_payload.compress(*sections, *colour_planes)
    else:
        message = full.pack() + coded + (zstd_payload.compress(*colour_planes) if colour_planes else b"")
    if len(message) > MAX_MESSAGE_SIZE:
        raise ValueError(f"chunk message is {len(message)} bytes, more than {MAX_MESSAGE_SIZE}")
    return message


def decode_header(message: bytes) -> ChunkHeader:
    """Parse and validate a chunk header. Raises ValueError on anything malformed."""
    if len(message) < CHUNK_HEADER.size:
        raise ValueError(f"chunk too short: {len(message)} bytes, header needs {CHUNK_HEADER.size}")
    (magic, version, encoding, frame_id, capture_time, chunk_index, chunk_count, chunks_sent, point_offset,
     point_count, frame_points, step, turn, w_range, w_azimuth, w_elevation,
     b_range, b_azimuth, b_elevation, azimuth_step, flags) = CHUNK_HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError(f"bad magic 0x{magic:04x}")
    if version != VERSION:
        raise ValueError(f"unsupported version {version}")
    if encoding not in Encoding.__members__.values():
        raise ValueError(f"unknown encoding {encoding}")
    if not 0 < chunks_sent <= chunk_count:
        raise ValueError(f"{chunks_sent} chunks sent of {chunk_count}")
    if chunk_index >= chunks_sent:
        raise ValueError(f"chunk index {chunk_index} out of range for {chunks_sent} chunks sent")
    if point_count == 0 or point_count > MAX_CHUNK_POINTS:
        raise ValueError(f"invalid point count {point_count}")
    if frame_points > MAX_FRAME_POINTS:
        raise ValueError(f"frame size {frame_points} exceeds the limit of {MAX_FRAME_POINTS} points")
    if point_offset + point_count > frame_points:
        raise ValueError(f"points {point_offset}+{point_count} exceed frame size {frame_points}")
    widths = (w_range, w_azimuth, w_elevation)
    bases = (b_range, b_azimuth, b_elevation)
    if encoding == Encoding.FLOAT32:
        if step or turn or any(widths) or any(bases) or azimuth_step or flags & ~COLOUR:
            raise ValueError("a FLOAT32 chunk has quantisation fields")
    else:
        if not 0 < step <= MAX_STEP:
            raise ValueError(f"invalid quantisation step {step}")
        if not spherical.MIN_TURN <= turn <= spherical.MAX_TURN:
            raise ValueError(f"invalid angle steps per turn {turn}")
        if any(widths):
            raise ValueError(f"reserved bytes are not zero: {widths}")
        if b_range > spherical.MAX_RANGE_STEPS:
            raise ValueError(f"invalid first range {b_range}")
        if flags & ~(spherical.FLAGS | COLOUR):
            raise ValueError(f"unknown flags 0x{flags:02x}")
    return ChunkHeader(Encoding(encoding), frame_id, capture_time, chunk_index, chunk_count, chunks_sent,
                       point_offset, point_count, frame_points, step, turn, widths, bases, azimuth_step, flags)


def load_coders() -> None:
    """Load the compiled SPHERICAL range coder now (codec/spherical.py, ``warm_up``): a process that will
    decode a stream calls this before it connects, not on its first chunk."""
    spherical.warm_up()


def with_chunks_sent(message: bytes, chunks_sent: int) -> bytes:
    """The same chunk, saying that its viewer is sent only the first ``chunks_sent`` chunks of the frame."""
    return message[:CHUNKS_SENT_OFFSET] + chunks_sent.to_bytes(2, "little") + message[CHUNKS_SENT_OFFSET + 2:]


def decode_chunk(message: bytes) -> Chunk:
    """Decode one message into its header and point_count × 4 float32 points.

    Raises ValueError for truncated, garbled or inconsistent input.
    """
    header = decode_header(message)
    n = header.point_count
    body = memoryview(message)[CHUNK_HEADER.size:]
    if header.encoding == Encoding.FLOAT32:
        raw = zstd_payload.decompress_exact(body, header.zstd_size)
        points = float32.decode(raw[:n * float32.RAW_BYTES_PER_POINT], n)
        colour_plane = memoryview(raw)[n * float32.RAW_BYTES_PER_POINT:]
    else:
        points, used = spherical.decode(body, n, header.step, header.turn, header.bases, header.azimuth_step,
                                        header.flags & spherical.FLAGS)
        rest = body[used:]
        if header.coloured:
            colour_plane = memoryview(zstd_payload.decompress_exact(rest, header.zstd_size))
        elif len(rest):
            raise ValueError(f"{len(rest)} bytes after the points")
    colours = colour.decode(colour_plane, n) if header.coloured else None
    return Chunk(header, points, colours)
