"""Frame production in a child process: read (or synthesise) the next frame and encode it.

Reading, ray-casting and encoding are CPU work that holds the GIL for much of its time; in
the streaming process it would stall the event loop that drives every viewer's DTLS/SCTP.
A child process gets its own interpreter (and, on a multi-core machine, its own core). It
prefetches the next source frame on a thread while the current one is encoded, so a frame's
capture-to-send latency is the encode time alone.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures.process import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from data.source import Frame, FrameSource
from record.mcap_recorder import McapRecorder

from .encoder import EncodedFrame, EncoderOptions, FrameEncoder

logger = logging.getLogger(__name__)

WAITING = "waiting"
"""What ``upcoming`` returns when no frame came in time (a live source)."""
END = object()


@dataclass(frozen=True)
class Produced:
    encoded: EncodedFrame
    fallback_frames: int
    """Encoder total so far (frames sent lossless because SPHERICAL could not code them)."""


class _Worker:
    def __init__(self, source: FrameSource, options: EncoderOptions, loop: bool, record: Path | None = None) -> None:
        self.encoder = FrameEncoder(options)
        self.recorder: McapRecorder | None = None
        if record is not None:
            self.recorder = McapRecorder(record)
            # a pool worker leaves through multiprocessing's exit path (os._exit: no atexit), which runs these
            Finalize(self.recorder, self.recorder.close, exitpriority=10)
        self.frames = self._passes(source, loop)
        self.closing = False
        """Set on the way out: a live source's reader stops at its next idle moment (data/source.py)."""
        Finalize(self, self._close, exitpriority=5)
        self.reader = ThreadPoolExecutor(1, thread_name_prefix="prefetch")
        self.pending: Future[Frame | None] = self.reader.submit(self._read)

    def _close(self) -> None:
        self.closing = True

    @staticmethod
    def _passes(source: FrameSource, loop: bool) -> Iterator[Frame | None]:
        while True:
            produced = 0
            for frame in source.frames():
                produced += frame is not None
                yield frame
            if not loop or produced == 0:
                return

    def _read(self) -> Frame | None:
        """The next frame; None at the end (or when closing while a live source has nothing)."""
        while not self.closing:
            frame = next(self.frames, END)
            if frame is END:
                return None
            if frame is not None:
                return frame  # type: ignore[return-value]
        return None

    def upcoming(self, timeout: float | None = None) -> float | None | str:
        """The source timestamp of the frame ``next`` will encode (waiting for it to be read, at most ``timeout``
        seconds: then WAITING); None at the end."""
        done, _ = wait([self.pending], timeout)
        if not done:
            return WAITING
        frame = self.pending.result()
        return None if frame is None else frame.timestamp

    def next(self, frame_id: int, capture_time: float, share: float = 1.0) -> Produced | None:
        frame = self.pending.result()
        if frame is None:
            return None
        self.pending = self.reader.submit(self._read)
        if self.recorder is not None:
            self.recorder.write(capture_time, frame.points, frame.colours)
        encoded = self.encoder.encode(frame_id, capture_time, frame.points, frame.colours, share)
        return Produced(encoded, self.encoder.fallback_frames)


_worker: _Worker | None = None


def _init_worker(source: FrameSource, options: EncoderOptions, loop: bool, parent: int, record: Path | None,
                 log: tuple[int, str | None, str | None], ready: Any) -> None:
    global _worker
    level, fmt, datefmt = log  # a spawned process starts without the streamer's logging: the same again
    logging.basicConfig(level=level, format=fmt, datefmt=datefmt)
    # Ctrl-C in a terminal reaches the whole process group: the streamer decides when this process stops
    # (and its recording is closed), not a KeyboardInterrupt in the middle of an encode
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # watch first, with the parent's pid as the parent saw it: if it died before we got here, our
    # parent is already someone else and we leave at once
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    _worker = _Worker(source, options, loop, record)
    ready.value = 1


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """A killed streamer (SIGKILL, or SIGTERM without cleanup) cannot stop its pool: the worker holds
    both ends of its call queue and would wait on it forever, an orphan. It leaves with its parent."""
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(0)


def _next(frame_id: int, capture_time: float, share: float) -> Produced | None:
    assert _worker is not None
    return _worker.next(frame_id, capture_time, share)


def _upcoming(timeout: float | None) -> float | None | str:
    assert _worker is not None
    return _worker.upcoming(timeout)


def _log_settings() -> tuple[int, str | None, str | None]:
    """The root logger's level and its first handler's format, for the producer process."""
    root = logging.getLogger()
    formatter = root.handlers[0].formatter if root.handlers else None
    return (root.getEffectiveLevel(), formatter._fmt if formatter else None,  # noqa: SLF001 (no public getter)
            formatter.datefmt if formatter else None)


class FrameProducer:
    """Owns the child process. ``submit(frame_id, capture_time, share)`` returns a future of the frame."""

    def __init__(self, source: FrameSource, options: EncoderOptions, loop: bool, record: Path | None = None) -> None:
        """``record``: a new .mcap file the frames are also written to (record/mcap_recorder.py)."""
        self.options = options
        self.record = record
        context = multiprocessing.get_context("spawn")
        self._ready = context.Value("b", 0, lock=False)
        """Set by the worker once it has started (imported, loaded the compiled coder: a second or two)."""
        self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker,
                                         initargs=(source, options, loop, os.getpid(), record, _log_settings(),
                                                   self._ready))

    def submit(self, frame_id: int, capture_time: float, share: float = 1.0) -> Future[Produced | None]:
        """The next frame, encoded in full or, with ``share`` < 1, about that share of its chunks (the first of
        the send order: stream/encoder.py)."""
        return self._pool.submit(_next, frame_id, capture_time, share)

    def upcoming(self, timeout: float | None = None) -> Future[float | None | str]:
        """The source timestamp of the next frame (to pace a recording by its recorded times, or to send a live
        frame as it comes); WAITING when none came within ``timeout`` seconds; None at the end."""
        return self._pool.submit(_upcoming, timeout)

    def close(self) -> None:
        """Stop the child process (waits for the frame in progress, at most one encode). A worker still
        starting has nothing to finish and is ended at once, instead of being waited for until it is ready
        only to be told to stop (one that records is waited for: its file must be closed properly)."""
        if not self._ready.value and self.record is None:
            # ProcessPoolExecutor has no public way to its processes; without this attribute, close waits
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
