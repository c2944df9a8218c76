"""Reassembles point chunks into frames on the receiving side and keeps the link statistics.

Chunks arrive unordered and some never arrive. A frame is finished when all the chunks it was sent are
in; partially, when the last chunk it was sent has arrived (the sender sends a frame's chunks in their
order, once: those still missing were lost) or when a chunk of a newer frame arrives (the sender never
goes back to an older frame). A viewer may be sent only the first ``chunks_sent`` chunks of a frame (a
sender fitting the link): the frame is then finished by its chunk ``chunks_sent - 1``. Chunks of a
frame already finished are counted as late and dropped.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stream.protocol import decode_chunk, decode_header

logger = logging.getLogger(__name__)


def newer(a: int, b: int) -> bool:
    """True if frame id ``a`` is after ``b`` (32-bit ids, wrap-around aware)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


@dataclass
class AssembledFrame:
    frame_id: int
    capture_time: float
    frame_points: int
    chunk_count: int
    chunks_sent: int
    """Chunks of the frame this viewer was sent (the rest were left out to fit the link)."""
    points: np.ndarray
    """frame_points × 4 float32; rows of lost chunks are NaN (0 × 4 from an assembler that reads headers only)."""
    chunks_received: int = 0
    points_received: int = 0
    bytes_received: int = 0
    first_arrival: float = 0.0
    last_arrival: float = 0.0
    finished_at: float = 0.0
    """When the frame was finished (receiver clock): a viewer could draw it from then on."""
    colours: np.ndarray | None = None
    """frame_points × 3 uint8 once a chunk with colours arrived (rows of other chunks are 0); else None."""
    _seen: set[int] = field(default_factory=set, repr=False)

    @property
    def complete(self) -> bool:
        """Every point of the frame arrived."""
        return self.chunks_received == self.chunk_count

    @property
    def point_share(self) -> float:
        return self.points_received / self.frame_points if self.frame_points else 1.0

    @property
    def latency(self) -> float:
        """Capture (sender clock) → frame finished (receiver clock), seconds."""
        return self.finished_at - self.capture_time


@dataclass
class LinkStats:
    chunks_received: int = 0
    chunks_lost: int = 0
    chunks_unsent: int = 0
    """Chunks the sender left out to fit the link (not lost: never sent)."""
    bad_chunks: int = 0
    """Messages that failed to decode (truncated, garbled, inconsistent)."""
    late_chunks: int = 0
    stale_chunks: int = 0
    """Chunks of a new frame captured longer ago than the assembler's ``max_age`` (a backlog somewhere, such
    as Janus's queue for a viewer that fell behind): dropped, so that the frames after them are drawn."""
    duplicate_chunks: int = 0
    bytes_received: int = 0
    frames_complete: int = 0
    frames_partial: int = 0
    points_received: int = 0

    @property
    def loss_ratio(self) -> float:
        total = self.chunks_received + self.chunks_lost
        return self.chunks_lost / total if total else 0.0


class FrameAssembler:
    """Feed it every message of the point channel; it calls ``on_frame`` once per finished frame."""

    def __init__(self, on_frame: Callable[[AssembledFrame], None],
                 clock: Callable[[], float], server_now: Callable[[], float | None] | None = None,
                 max_age: float = 1.5, points: bool = True) -> None:
        """``server_now``: the sender's clock now (None while unknown): chunks of a new frame captured more than
        ``max_age`` seconds before it are stale. ``points=False`` reads each chunk's header and not its points
        (the benchmark's light viewers: delivery, latency and points counted, nothing decoded)."""
        self.on_frame = on_frame
        self.clock = clock
        self.server_now = server_now
        self.max_age = max_age
        self.decodes_points = points
        self.stats = LinkStats()
        self._open: dict[int, AssembledFrame] = {}
        self._newest: int | None = None
        self._last_finished: float | None = None

    @property
    def newest_frame_id(self) -> int | None:
        """The newest frame id seen; chunks of frames older than it are late."""
        return self._newest

    def push(self, message: bytes) -> None:
        now = self.clock()
        try:
            chunk = decode_chunk(message) if self.decodes_points else None
            h = chunk.header if chunk is not None else decode_header(message)
        except ValueError as exc:
            self.stats.bad_chunks += 1
            logger.debug("dropped bad chunk (%d bytes): %s", len(message), exc)
            return
        frame = self._open.get(h.frame_id)
        if frame is None:
            if self._newest is not None and not newer(h.frame_id, self._newest):
                self.stats.late_chunks += 1  # its frame is finished already
                return
            if self._stale(h.capture_time, now):
                self.stats.stale_chunks += 1
                return
            self._newest = h.frame_id
            rows = h.frame_points if self.decodes_points else 0
            frame = AssembledFrame(h.frame_id, h.capture_time, h.frame_points, h.chunk_count, h.chunks_sent,
                                   np.full((rows, 4), np.nan, dtype=np.float32), first_arrival=now)
            self._open[h.frame_id] = frame
            for fid in [f for f in self._open if newer(h.frame_id, f)]:
                self._finish(self._open.pop(fid), now)
        if (h.chunk_count, h.chunks_sent, h.frame_points) != (frame.chunk_count, frame.chunks_sent, frame.frame_points):
            self.stats.bad_chunks += 1
            return
        if h.chunk_index in frame._seen:
            self.stats.duplicate_chunks += 1
            return
        frame._seen.add(h.chunk_index)
        if chunk is not None:
            frame.points[h.point_offset:h.point_offset + h.point_count] = chunk.points
            if chunk.colours is not None:
                if frame.colours is None:
                    frame.colours = np.zeros((h.frame_points, 3), dtype=np.uint8)
                frame.colours[h.point_offset:h.point_offset + h.point_count] = chunk.colours
        frame.chunks_received += 1
        frame.points_received += h.point_count
        frame.bytes_received += len(message)
        frame.last_arrival = now
        self.stats.chunks_received += 1
        self.stats.bytes_received += len(message)
        if frame.chunks_received == frame.chunks_sent or h.chunk_index == h.chunks_sent - 1:
            # all it was sent are in, or the last one sent is: the rest was lost
            self._finish(self._open.pop(h.frame_id), now)

    def _stale(self, capture_time: float, now: float) -> bool:
        """Whether a new frame was captured more than ``max_age`` before the sender's clock now, while frames are
        being finished (one at least every ``max_age``: a viewer too slow for any frame to be fresh still
        draws some, rather than none)."""
        server_now = self.server_now() if self.server_now else None
        return (server_now is not None and server_now - capture_time > self.max_age
                and self._last_finished is not None and now - self._last_finished < self.max_age)

    def flush(self) -> None:
        """Finish every open frame (end of stream)."""
        now = self.clock()
        for fid in list(self._open):
            self._finish(self._open.pop(fid), now)

    def _finish(self, frame: AssembledFrame, now: float) -> None:
        frame.finished_at = now
        self._last_finished = now
        s = self.stats
        s.chunks_lost += frame.chunks_sent - frame.chunks_received
        s.chunks_unsent += frame.chunk_count - frame.chunks_sent
        s.points_received += frame.points_received
        if frame.complete:
            s.frames_complete += 1
        else:
            s.frames_partial += 1
        self.on_frame(frame)
