"""Frame encoder: splits a frame into packet-sized chunks, compresses each chunk once, and orders them so
that any prefix of a frame covers the whole scene.

Chunks are sized by *bytes on the wire*, not by point count: aiortc puts every SCTP DATA
chunk (≤ 1160 bytes of user data) in its own packet, and an unreliable message is lost
whole if any of its packets is lost. So a message should fill a whole number of packets
(no half-empty trailing packet) and be only a few packets long. The encoder estimates the
compressed bytes per point from the previous chunk, picks the point count that fills the
budget, and re-encodes a smaller chunk in the rare case the estimate overshoots.

Chunks hold runs of points in the source's order (a scanning LiDAR's order: along a ring, or along a
column of lasers), which is what the codec predicts along. They are *sent* in bit-reversed order
(``progressive_order``): the first chunks sent are spread evenly over the frame, each later one falls in
the middle of the largest gap left, so a viewer that gets only part of a frame sees the whole field of
view, sparser, never a wedge of it. A sender that fits a link sends a prefix of that order.

**Only what is sent is encoded.** ``encode(..., share=s)`` (s < 1: what the viewers' fitters take of
recent frames, with headroom; stream/broadcaster.py) cuts the frame into runs of the estimated size,
encodes only the first ``ceil(s × runs)`` of their progressive order, and says so in the headers: the
frame still has all its chunks (``chunk_count``), of which only that prefix exists (``chunks_sent``), as if
a fitter had cut it. A fitted viewer's latency and the producer's CPU then follow the share sent, not the
whole frame (docs/design.md, "Fitting the link").
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from codec import colour, float32, spherical, zstd_payload
from rtc.sctp_backlog import SCTP_PACKET_PAYLOAD

from .protocol import (CHUNK_HEADER, COLOUR, MAX_CHUNK_POINTS, MAX_MESSAGE_SIZE, MAX_STEP, Bases, ChunkHeader, Encoding,
                       Widths)

logger = logging.getLogger(__name__)

#: Default message budget in SCTP packets. Chosen from the measurement in docs/design.md
#: ("Chunk size"): the loss amplification of longer messages vs the per-message cost of shorter ones.
DEFAULT_CHUNK_PACKETS = 2
#: Default quantisation step, millimetres: far below a LiDAR's own noise (centimetres), so a viewer
#: cannot tell it from lossless; docs/design.md ("The point codec") has the measurements.
DEFAULT_QUANTIZE_MM = 1.0

BATCH_RUNS = 12
"""Runs encoded per vectorised pass; the size estimate follows the frame from batch to batch (a sensor's
rings compress differently: the ground near, the sky not at all)."""

PART_RUNS_ALONE = 0.4
"""Below this share of its runs, a frame encoded in part has its spherical coordinates computed for those runs
alone (codec/spherical.py SphericalFrame ``runs``)."""

Quantised = tuple[float, int, Widths, Bases, int, int]
"""The header fields of a chunk's quantisation: step, turn, widths, bases, azimuth_step, flags."""


@dataclass(frozen=True)
class EncoderOptions:
    """How frames are put on the wire."""

    quantize_mm: float = DEFAULT_QUANTIZE_MM
    """0: lossless float32. >0: SPHERICAL at this step in millimetres, uint8 intensity."""
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
        return Encoding.SPHERICAL if self.quantize_mm else Encoding.FLOAT32

    @property
    def message_budget(self) -> int:
        return self.chunk_packets * SCTP_PACKET_PAYLOAD

    def describe(self) -> str:
        return f"{self.quantize_mm:g} mm" if self.quantize_mm else "lossless float32"


@dataclass(frozen=True)
class EncodedFrame:
    """One frame, ready to send to any number of viewers."""

    frame_id: int
    capture_time: float
    point_count: int
    messages: tuple[bytes, ...]
    """The chunks in the order to send them (progressive_order); any prefix covers the whole frame."""
    encode_seconds: float
    chunk_count: int = -1
    """Chunks of the whole frame; more than ``messages`` when only a prefix was encoded (-1: all were)."""

    def __post_init__(self) -> None:
        if self.chunk_count < 0:
            object.__setattr__(self, "chunk_count", len(self.messages))

    @property
    def nbytes(self) -> int:
        return sum(len(m) for m in self.messages)


def progressive_order(count: int) -> list[int]:
    """0..count-1 in bit-reversed order (the van der Corput sequence): every prefix is spread evenly."""
    bits = max(1, (count - 1).bit_length())
    return sorted(range(count), key=lambda i: int(f"{i:0{bits}b}"[::-1], 2))


class FrameEncoder:
    """Encodes frames with fixed options; safe to call from one worker thread at a time."""

    def __init__(self, options: EncoderOptions = EncoderOptions()) -> None:
        self.options = options
        self.fallback_frames = 0
        """Frames sent as FLOAT32 because SPHERICAL could not code them (a point too far or not finite)."""
        self.retries = 0
        """Chunks re-encoded smaller because the size estimate overshot the budget."""
        self._bytes_per_point = 3.0 if options.quantize_mm else 10.0
        if options.quantize_mm:
            spherical.warm_up(encoding=True)

    def encode(self, frame_id: int, capture_time: float, points: np.ndarray,
               colours: np.ndarray | None = None, share: float = 1.0) -> EncodedFrame:
        """The frame's chunks; ``colours`` (N × 3 uint8), when given, go in each chunk's colour plane. With
        ``share`` < 1, only about that share of the chunks, the first of the send order (module docstring)."""
        started = time.perf_counter()
        n = len(points)
        budget = self.options.message_budget - CHUNK_HEADER.size
        fid = frame_id & 0xFFFFFFFF
        if share < 1.0 and n > 0:
            return self._prefix(fid, capture_time, points, colours, max(0.0, share), budget, started)
        frame = self._spherical(points)
        pieces: list[tuple[int, int, Quantised, bytes]] = []
        done = 0
        batch = 1  # the first run alone calibrates the size estimate; then batches of runs, each vectorised
        while done < n:
            count = self._run_length(budget)
            stop = min(n, done + batch * count)
            fitted = self._fit(points, colours, frame,
                               [(start, min(stop, start + count)) for start in range(done, stop, count)], budget)
            self._bytes_per_point = sum(len(p[3]) for p in fitted) / (stop - done)
            pieces += fitted
            done, batch = stop, BATCH_RUNS
        return self._frame(fid, capture_time, n, frame, [pieces[i] for i in progressive_order(len(pieces))],
                           len(pieces), started)

    @staticmethod
    def _frame(fid: int, capture_time: float, n: int, frame: spherical.SphericalFrame | None,
               ranked: list[tuple[int, int, Quantised, bytes]], total: int, started: float) -> EncodedFrame:
        """The messages of ``ranked`` pieces (in send order), the first of a frame of ``total`` chunks."""
        if total > 0xFFFF:
            raise ValueError(f"frame of {n} points needs {total} chunks; the format allows 65535")
        encoding = Encoding.FLOAT32 if frame is None else Encoding.SPHERICAL
        sent = len(ranked)
        messages = tuple(ChunkHeader(encoding, fid, capture_time, rank, total, sent, offset, count, n,
                                     *quantised).pack() + payload
                         for rank, (offset, count, quantised, payload) in enumerate(ranked))
        return EncodedFrame(fid, capture_time, n, messages, time.perf_counter() - started, total)

    def _prefix(self, fid: int, capture_time: float, points: np.ndarray, colours: np.ndarray | None, share: float,
                budget: int, started: float) -> EncodedFrame:
        """The frame with only the first ``share`` of its runs in send order encoded. Runs have the estimated
        size; one that overflows the budget becomes several pieces, ranked one after another where the run
        was, so the encoded pieces stay a prefix of the send order."""
        n = len(points)
        length = self._run_length(budget)
        runs = math.ceil(n / length)
        order = progressive_order(runs)
        taken = order[:min(runs, max(1, math.ceil(share * runs)))]
        bounds = [(i * length, min(n, (i + 1) * length)) for i in sorted(taken)]
        # 123k points: 1.7 ms for 13 % of the runs alone against 5.6 for all, 9.3 for 90 % (gather and spread)
        frame = self._spherical(points, bounds if len(taken) < PART_RUNS_ALONE * runs else None)
        pieces = self._fit(points, colours, frame, bounds, budget)
        self._bytes_per_point = sum(len(p[3]) for p in pieces) / sum(p[1] for p in pieces)
        by_run: dict[int, list[tuple[int, int, Quantised, bytes]]] = {}
        for piece in pieces:  # in position order: a split run's pieces stay in order
            by_run.setdefault(piece[0] // length, []).append(piece)
        ranked = [piece for run in taken for piece in by_run[run]]
        return self._frame(fid, capture_time, n, frame, ranked, len(ranked) + runs - len(taken), started)

    def _run_length(self, budget: int) -> int:
        """Points per chunk that should fill ``budget`` bytes (90 %: the estimate is an average)."""
        return int(min(MAX_CHUNK_POINTS, max(1, budget * 0.9 / self._bytes_per_point)))

    def _fit(self, points: np.ndarray, colours: np.ndarray | None, frame: spherical.SphericalFrame | None,
             bounds: list[tuple[int, int]], budget: int) -> list[tuple[int, int, Quantised, bytes]]:
        """Compressed runs ``bounds`` of the frame; a run over ``budget`` is re-encoded as several smaller ones."""
        if not bounds:
            return []
        pieces = []
        for (start, stop), (quantised, payload) in zip(bounds, self._payloads(points, colours, frame, bounds)):
            if len(payload) <= budget or stop - start == 1:
                pieces.append((start, stop - start, quantised, payload))
                continue
            self.retries += 1
            parts = min(stop - start, math.ceil(len(payload) / budget * 1.1))
            edges = np.linspace(start, stop, parts + 1).astype(int).tolist()
            pieces.extend(self._fit(points, colours, frame, list(zip(edges[:-1], edges[1:])), budget))
        return pieces

    @staticmethod
    def _payloads(points: np.ndarray, colours: np.ndarray | None, frame: spherical.SphericalFrame | None,
                  bounds: list[tuple[int, int]]) -> list[tuple[Quantised, bytes]]:
        """The quantisation header fields (Quantised) and the compressed payload of each run."""
        tails: list[tuple[bytes, ...]] = [()] * len(bounds)
        coloured = 0
        if colours is not None:
            tails = [(plane,) for plane in colour.planes(colours, bounds)]
            coloured = COLOUR
        if frame is None:
            return [((0.0, 0, (0, 0, 0), (0, 0, 0), 0, coloured), zstd_payload.compress(raw, *tail))
                    for raw, tail in zip(float32.raw_planes(points, bounds), tails)]
        return [((frame.step, p.turn, (0, 0, 0), p.bases, p.azimuth_step, p.flags | coloured),
                 p.payload + (zstd_payload.compress(*tail) if tail else b""))
                for p, tail in zip(frame.chunks(bounds), tails)]

    def _spherical(self, points: np.ndarray, runs: list[tuple[int, int]] | None = None
                   ) -> spherical.SphericalFrame | None:
        if not self.options.quantize_mm:
            return None
        try:
            return spherical.SphericalFrame(points, self.options.quantize_mm / 1000.0, runs)
        except ValueError as exc:
            self.fallback_frames += 1
            logger.debug("frame sent lossless: %s", exc)
            return None
