"""Frame encoder: splits a frame into packet-sized chunks and compresses each chunk once.

Chunks are sized by *bytes on the wire*, not by point count: aiortc puts every SCTP DATA
chunk (≤ 1160 bytes of user data) in its own packet, and an unreliable message is lost
whole if any of its packets is lost. So a message should fill a whole number of packets
(no half-empty trailing packet) and be only a few packets long. The encoder estimates the
compressed bytes per point from the previous chunk, picks the point count that fills the
budget, and re-encodes a smaller chunk in the rare case the estimate overshoots.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from rtc.sctp_backlog import SCTP_PACKET_PAYLOAD

from .protocol import (CHUNK_HEADER, MAX_CHUNK_POINTS, MAX_MESSAGE_SIZE, MAX_STEP, RECORD_SIZE, ChunkHeader, Encoding,
                       QuantGrid, encode_payload, int16_payload)

logger = logging.getLogger(__name__)

#: Default message budget in SCTP packets. Chosen from the measurement in docs/protocol.md
#: ("Chunk size"): the loss amplification of longer messages vs the per-message cost of shorter ones.
DEFAULT_CHUNK_PACKETS = 2


@dataclass(frozen=True)
class EncoderOptions:
    """How frames are put on the wire."""

    quantize_mm: float = 0.0
    """0: lossless float32. >0: int16 x, y, z at this step in millimetres, uint8 intensity."""
    chunk_packets: int = DEFAULT_CHUNK_PACKETS
    """Largest message, in SCTP packets of 1160 bytes (1..56, i.e. up to 64 KiB)."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.quantize_mm) or self.quantize_mm < 0:
            raise ValueError(f"quantize step must be >= 0 mm, got {self.quantize_mm}")
        if 0 < self.quantize_mm < 0.1:
            raise ValueError(f"quantize step {self.quantize_mm} mm is below the 0.1 mm minimum")
        if self.quantize_mm > 1000 * MAX_STEP:
            raise ValueError(f"quantize step {self.quantize_mm} mm is above the {1000 * MAX_STEP:g} mm maximum")
        if not 1 <= self.chunk_packets <= MAX_MESSAGE_SIZE // SCTP_PACKET_PAYLOAD:
            raise ValueError(f"chunk size must be 1..{MAX_MESSAGE_SIZE // SCTP_PACKET_PAYLOAD} packets, "
                             f"got {self.chunk_packets}")

    @property
    def encoding(self) -> Encoding:
        return Encoding.INT16 if self.quantize_mm else Encoding.FLOAT32

    @property
    def message_budget(self) -> int:
        return self.chunk_packets * SCTP_PACKET_PAYLOAD


@dataclass(frozen=True)
class EncodedFrame:
    """One frame, ready to send to any number of viewers."""

    frame_id: int
    capture_time: float
    point_count: int
    messages: tuple[bytes, ...]
    encode_seconds: float

    @property
    def nbytes(self) -> int:
        return sum(len(m) for m in self.messages)


class FrameEncoder:
    """Encodes frames with fixed options; safe to call from one worker thread at a time."""

    def __init__(self, options: EncoderOptions = EncoderOptions()) -> None:
        self.options = options
        self.fallback_chunks = 0
        """Chunks sent as FLOAT32 because they were too wide for int16 at the chosen step."""
        self.retries = 0
        """Chunks re-encoded smaller because the size estimate overshot the budget."""
        self._bytes_per_point = RECORD_SIZE[options.encoding] / 1.3

    def encode(self, frame_id: int, capture_time: float, points: np.ndarray) -> EncodedFrame:
        started = time.perf_counter()
        n = len(points)
        budget = self.options.message_budget - CHUNK_HEADER.size
        step = self.options.quantize_mm / 1000.0
        grid = QuantGrid(points, step) if self.options.encoding == Encoding.INT16 else None
        pieces: list[tuple[int, int, Encoding, float, tuple[float, float, float], bytes]] = []
        pos = 0
        while pos < n:
            count = int(min(n - pos, MAX_CHUNK_POINTS, max(1, budget * 0.95 / self._bytes_per_point)))
            while True:
                encoding, payload, origin = self._payload(points, grid, pos, pos + count)
                if len(payload) <= budget or count == 1:
                    break
                self.retries += 1
                count = max(1, min(count - 1, int(count * budget / len(payload) * 0.95)))
            self._bytes_per_point = 0.7 * self._bytes_per_point + 0.3 * (len(payload) / count)
            pieces.append((pos, count, encoding, step if encoding == Encoding.INT16 else 0.0, origin, payload))
            pos += count
        if len(pieces) > 0xFFFF:
            raise ValueError(f"frame of {n} points needs {len(pieces)} chunks; the format allows 65535")
        fid = frame_id & 0xFFFFFFFF
        messages = tuple(
            ChunkHeader(enc, fid, capture_time, i, len(pieces), off, cnt, n, stp, org).pack() + payload
            for i, (off, cnt, enc, stp, org, payload) in enumerate(pieces))
        return EncodedFrame(fid, capture_time, n, messages, time.perf_counter() - started)

    def _payload(self, points: np.ndarray, grid: QuantGrid | None, start: int, stop: int
                 ) -> tuple[Encoding, bytes, tuple[float, float, float]]:
        if grid is not None:
            compressed = int16_payload(grid, start, stop)
            if compressed is not None:
                return Encoding.INT16, *compressed
            # too wide for int16 at this step (e.g. 1 mm over a long chunk): send it lossless
            self.fallback_chunks += 1
        payload, origin = encode_payload(Encoding.FLOAT32, 0.0, points[start:stop])
        return Encoding.FLOAT32, payload, origin
