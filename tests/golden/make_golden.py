"""Regenerate the golden chunk vectors shared by the Python and JS decoder tests.

    .venv/bin/python tests/golden/make_golden.py

Each vector is one chunk of a frame encoded by the encoder the streamer runs (``FrameEncoder``), so a
change to any byte it writes fails tests/test_protocol.py until the vectors are made again on purpose.
Writes NAME.bin (one data-channel message) and NAME.json (its header fields, the points that went in
and the decoded points as float32 values, and for coloured vectors the colours) for each vector, plus
bad/*.bin (messages every decoder must reject). Only rerun when the wire format changes on purpose: the
tests compare against these files.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zstandard

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from stream.encoder import EncoderOptions, FrameEncoder  # noqa: E402
from stream.protocol import CHUNK_HEADER, MAX_FRAME_POINTS, decode_chunk  # noqa: E402


@dataclass(frozen=True)
class Vector:
    """Chunk ``index`` of frame ``frame_id`` (``points``) as FrameEncoder(``options``) writes it."""

    frame_id: int
    capture_time: float
    points: np.ndarray
    options: EncoderOptions
    index: int
    colours: np.ndarray | None = None

    def encode(self) -> tuple[bytes, np.ndarray]:
        """The message, and the points of the frame that went into it."""
        encoded = FrameEncoder(self.options).encode(self.frame_id, self.capture_time, self.points, self.colours)
        message = encoded.messages[self.index]
        h = decode_chunk(message).header
        return message, self.points[h.point_offset:h.point_offset + h.point_count]


def vectors() -> dict[str, Vector]:
    rng = np.random.default_rng(2024)
    small = np.array([[0.0, 0.0, 0.0, 0.0], [-1.5, 2.25, -0.125, 1.0], [79.99, -80.0, 3.0, 0.5],
                      [1e-7, -3.4e38, 6.5e4, 0.25], [12.345678, -0.000001, 1.73, 0.0625]], dtype=np.float32)
    street = np.column_stack([rng.uniform(-40, 40, 300), rng.uniform(-20, 20, 300), rng.uniform(-1.8, 3, 300),
                              rng.uniform(0, 1, 300)]).astype(np.float32)
    far = np.column_stack([rng.normal(75, 2, 64), rng.normal(-40, 2, 64), rng.normal(2, 0.5, 64),
                           rng.uniform(0, 1, 64)]).astype(np.float32)
    turns = np.linspace(0, 4 * np.pi, 900)  # two rings of a scan: smooth ranges, an edge, the wrap at ±π
    ranges = 12 + 3 * np.sin(3 * turns) + np.where((turns % 2) < 0.3, 20.0, 0.0) + rng.normal(0, 0.01, 900)
    elevation = np.where(turns < 2 * np.pi, -0.05, 0.02)
    ring = np.column_stack([ranges * np.cos(elevation) * np.cos(turns - np.pi), ranges * np.cos(elevation)
                            * np.sin(turns - np.pi), ranges * np.sin(elevation), rng.uniform(0, 1, 900)])
    # the largest residuals the format can meet (ranges from the sensor's origin to 800 km at 5 mm: bit lengths
    # up to 28, many direct bits), every sign, and smooth intensity (coded as differences)
    wild = rng.uniform(-np.pi, np.pi, (120, 2)) * [1, 0.5]
    reach = np.resize([0.0, 0.5, 8e5, 3.0, 2.5e5, 7.9e5, 12.0, 0.004], 120)
    extremes = np.column_stack([reach * np.cos(wild[:, 1]) * np.cos(wild[:, 0]), reach * np.cos(wild[:, 1])
                                * np.sin(wild[:, 0]), reach * np.sin(wild[:, 1]), np.linspace(0, 1, 120)])
    # colours as a scan has them: runs of one colour, changes at edges, a wrap of each byte
    palette = np.array([[255, 0, 0], [0, 128, 255], [250, 250, 250], [3, 2, 1]], dtype=np.uint8)
    colours = palette[(np.arange(300) // 37) % 4]
    return {  # a single chunk; sent second of three (index and offset not zero); a last chunk; 1 mm far away
        "float32_small": Vector(7, 1700000000.25, small, EncoderOptions(quantize_mm=0), 0),
        "float32_street": Vector(0xFFFFFFFF, 1795000000.125, street, EncoderOptions(quantize_mm=0), 1),
        "spherical_5mm": Vector(42, 1795000001.5, street, EncoderOptions(quantize_mm=5, chunk_packets=1), 1),
        "spherical_1mm_far": Vector(43, 1795000001.75, far, EncoderOptions(quantize_mm=1), 0),
        "spherical_1mm_rings": Vector(44, 1795000002.0, ring.astype(np.float32),
                                      EncoderOptions(quantize_mm=1, chunk_packets=1), 2),
        "spherical_5mm_extremes": Vector(47, 1795000004.0, extremes.astype(np.float32), EncoderOptions(quantize_mm=5),
                                         0),
        "colour_float32": Vector(45, 1795000003.0, street, EncoderOptions(quantize_mm=0), 1, colours),
        "colour_spherical_5mm": Vector(46, 1795000003.5, street, EncoderOptions(quantize_mm=5, chunk_packets=1), 2,
                                       colours),
    }


BAD_SOURCES = ("spherical_5mm", "colour_spherical_5mm", "float32_street")
"""The golden vectors bad_messages is made from."""


def bad_messages(good: bytes, coloured: bytes, lossless: bytes) -> dict[str, bytes]:
    """Messages every decoder must refuse, made from the good SPHERICAL chunk ``good``, the SPHERICAL chunk
    with colours ``coloured`` and the FLOAT32 chunk ``lossless``."""
    header = bytearray(good[:CHUNK_HEADER.size])
    h = decode_chunk(good).header

    def with_field(offset: int, value: bytes, message: bytes = good) -> bytes:
        h = bytearray(message[:CHUNK_HEADER.size])
        h[offset:offset + len(value)] = value
        return bytes(h) + message[CHUNK_HEADER.size:]

    return {
        "empty": b"",
        "short_header": good[:20],
        "header_only": good[:CHUNK_HEADER.size],
        "truncated_payload": good[:-7],
        "bad_magic": with_field(0, b"XX"),
        "bad_version": with_field(2, b"\x09"),
        "bad_encoding": with_field(3, b"\x05"),
        "index_past_count": with_field(16, (5).to_bytes(2, "little") + (3).to_bytes(2, "little")),
        "index_past_sent": with_field(20, h.chunk_index.to_bytes(2, "little")),
        "more_sent_than_count": with_field(20, (h.chunk_count + 1).to_bytes(2, "little")),
        "zero_points": with_field(26, (0).to_bytes(4, "little")),
        "points_past_frame": with_field(22, (h.frame_points - h.point_count + 1).to_bytes(4, "little")),
        "more_points_than_payload": with_field(26, (h.point_count + 1).to_bytes(4, "little")
                                               + (h.frame_points + 1).to_bytes(4, "little")),
        "garbled_payload": bytes(header) + bytes(b ^ 0x5A for b in good[CHUNK_HEADER.size:]),
        "trailing_garbage": good + b"\x00\x01\x02",
        "frame_too_large": with_field(30, (MAX_FRAME_POINTS + 1).to_bytes(4, "little")),
        "step_zero": with_field(34, bytes(4)),
        "turn_too_small": with_field(38, (3).to_bytes(4, "little")),
        "reserved_not_zero": with_field(43, b"\x01"),
        "first_range_too_far": with_field(45, (2**31).to_bytes(4, "little")),
        "range_below_zero": with_field(45, bytes(4)),
        "angle_step_over_a_turn": with_field(38, (4).to_bytes(4, "little")),
        "unknown_flag": with_field(61, b"\x40"),
        "colour_flag_without_its_plane": with_field(61, bytes([h.flags | 0x80])),
        "float32_with_step": with_field(3, b"\x00"),
        "payload_twice": good + good[CHUNK_HEADER.size:],
        "points_read_past_the_end": good[:CHUNK_HEADER.size + 20],
        "colours_cut_off": coloured[:-3],
        "two_zstd_frames": lossless + lossless[CHUNK_HEADER.size:],
        "zstd_size_unknown": lossless[:CHUNK_HEADER.size] + zstandard.ZstdCompressor(write_content_size=False).compress(
            zstandard.ZstdDecompressor().decompress(lossless[CHUNK_HEADER.size:])),
    }


def main() -> None:
    (HERE / "bad").mkdir(exist_ok=True)
    for name, vector in vectors().items():
        message, points = vector.encode()
        chunk = decode_chunk(message)
        h = chunk.header
        (HERE / f"{name}.bin").write_bytes(message)
        expected = {
            "header": {"encoding": int(h.encoding), "frameId": h.frame_id, "captureTime": h.capture_time,
                       "chunkIndex": h.chunk_index, "chunkCount": h.chunk_count, "chunksSent": h.chunks_sent,
                       "pointOffset": h.point_offset,
                       "pointCount": h.point_count, "framePoints": h.frame_points, "step": h.step,
                       "turn": h.turn, "widths": list(h.widths), "bases": list(h.bases),
                       "azimuthStep": h.azimuth_step, "flags": h.flags},
            "input": [[float(v) for v in row] for row in points],
            "points": [[float(v) for v in row] for row in chunk.points],
        }
        if chunk.colours is not None:
            expected["colours"] = chunk.colours.tolist()
            expected["inputColours"] = vector.colours[h.point_offset:h.point_offset + h.point_count].tolist()
        (HERE / f"{name}.json").write_text(json.dumps(expected, indent=1) + "\n")
    for old in (HERE / "bad").glob("*.bin"):
        old.unlink()
    for name, message in bad_messages(*(vectors()[v].encode()[0] for v in BAD_SOURCES)).items():
        (HERE / "bad" / f"{name}.bin").write_bytes(message)


if __name__ == "__main__":
    main()
