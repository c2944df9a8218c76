"""Publishes the stream: one encoded frame per tick, encoded once, newest frame for every viewer."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.source import FrameSource

from .encoder import EncodedFrame, EncoderOptions
from .producer import WAITING, FrameProducer

logger = logging.getLogger(__name__)

LIVE_WAIT = 0.5
"""Seconds the producer waits for a live frame before it is asked again."""


@dataclass
class BroadcastStats:
    frames_encoded: int = 0
    points_encoded: int = 0
    bytes_encoded: int = 0
    encode_seconds: float = 0.0
    late_frames: int = 0
    """Ticks where producing the frame took longer than the frame interval."""
    fallback_frames: int = 0
    """Frames sent as FLOAT32 because SPHERICAL could not code them (a total)."""
    idle_seconds: float = 0.0
    """Time production was paused because nobody watched (see FrameBroadcaster.watching)."""


class RecordedClock:
    """Plays frames at their recorded times: frame k goes out ``(t_k - t_0) / speed`` after frame 0.

    It starts over (frame k taken as a new frame 0) when time goes backwards (the recording looped), when a
    frame is late by more than ``LATE`` (reading or encoding fell behind: no burst to catch up) and when the
    next frame is more than ``MAX_WAIT`` away (a pause in the recording is not played as a frozen stream).
    """

    LATE = 0.5
    MAX_WAIT = 2.0

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin: tuple[float, float] | None = None
        """(source time, monotonic time) of the frame the clock counts from."""
        self.last: float | None = None

    async def wait(self, timestamp: float | None) -> None:
        """Sleep until the frame recorded at ``timestamp`` is due (None: the source ended; no wait)."""
        if timestamp is None:
            return
        now = time.monotonic()
        due = None
        if self.origin is not None and self.last is not None and timestamp >= self.last:
            due = self.origin[1] + (timestamp - self.origin[0]) / self.speed
            if due < now - self.LATE or due - now > self.MAX_WAIT:
                due = None
        if due is None:
            self.origin = (timestamp, now)
        elif due > now:
            await asyncio.sleep(due - now)
        self.last = timestamp


class Watch:
    """One consumer's claim on the stream (FrameBroadcaster.watching); ``release`` it when done (idempotent)."""

    def __init__(self, broadcaster: FrameBroadcaster, share: float | None) -> None:
        self._broadcaster: FrameBroadcaster | None = broadcaster
        self.share = share
        """The share of each frame's chunks this consumer may take (a fitted sender updates it frame by frame);
        None: it keeps frames coming but has no say in how much of each is encoded."""

    def release(self) -> None:
        if self._broadcaster is not None:
            self._broadcaster._unwatch(self)
            self._broadcaster = None

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


class FrameBroadcaster:
    """Publishes ``EncodedFrame``s at ``fps``; viewers wait on :meth:`wait_newer`.

    Frames are produced (read + encoded) in a child process, see stream/producer.py. When
    ``loop`` is false the stream ends after one pass over the source.

    Nobody watching, nothing is produced: a file or synthetic source pauses until a consumer takes a
    :meth:`watching` claim (a viewer does so from its offer, so the first frame is ready when its channel
    opens), and the frame published before the pause is dropped, never sent late to the next viewer. A
    live source keeps producing (its sensor does not wait), and so does a recording streamer (``record``).

    Each frame is encoded as far as its consumers take it: the largest ``share`` of their claims (fitted
    senders say what their links take; every other consumer takes whole frames), stream/encoder.py.
    """

    def __init__(self, source: FrameSource, options: EncoderOptions, fps: float, loop: bool = True,
                 speed: float | None = None, record: Path | None = None) -> None:
        """``speed``: when set, frames go out at their source timestamps, ``speed`` times as fast (a
        recording); ``fps`` is then the nominal rate (what viewers are told, what senders pace for).
        ``record``: a new .mcap file every frame is also written to."""
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.source = source
        self.options = options
        self.fps = fps
        self.loop = loop
        self.record = record
        self.clock = RecordedClock(speed) if speed is not None else None
        self.latest: EncodedFrame | None = None
        self.finished = False
        self.stats = BroadcastStats()
        self._watches: set[Watch] = set()
        self.pauses_when_unwatched = record is None and not getattr(source, "live", False)
        self._changed = asyncio.Condition()
        self._watched = asyncio.Event()

    @property
    def audience(self) -> int:
        """Consumers holding a :meth:`watching` claim."""
        return len(self._watches)

    def watching(self, share: float | None = 1.0) -> Watch:
        """A claim that someone consumes frames; production pauses while there is none (see the class).
        ``share``: how much of each frame it takes (Watch.share)."""
        watch = Watch(self, share)
        self._watches.add(watch)
        self._watched.set()
        return watch

    def _unwatch(self, watch: Watch) -> None:
        self._watches.discard(watch)
        if not self._watches:
            self._watched.clear()

    def share_wanted(self) -> float:
        """How much of the next frame to encode: the largest share a consumer takes (1 when none says)."""
        shares = [w.share for w in self._watches if w.share is not None]
        return min(1.0, max(shares)) if shares else 1.0

    async def _wait_for_audience(self) -> bool:
        """Wait while nobody watches (when this broadcaster pauses); True if it did wait."""
        if not self.pauses_when_unwatched or self.audience > 0:
            return False
        async with self._changed:
            self.latest = None  # whoever comes next gets a fresh frame, not this one late
        logger.info("nobody watching: production paused")
        started = time.monotonic()
        await self._watched.wait()
        self.stats.idle_seconds += time.monotonic() - started
        logger.info("a viewer came: production resumed after %.1f s", time.monotonic() - started)
        return True

    async def run(self) -> None:
        """Publish frames until the source ends (or forever when looping). Cancel to stop."""
        producer = FrameProducer(self.source, self.options, self.loop, self.record)
        interval = 1.0 / self.fps
        next_tick = time.monotonic()
        frame_id = 0
        try:
            while True:
                if frame_id > 0 and await self._wait_for_audience():  # the first frame shows the source works
                    next_tick = time.monotonic()
                if self.clock is not None:
                    await self.clock.wait(await asyncio.wrap_future(producer.upcoming()))  # type: ignore[arg-type]
                    next_tick = time.monotonic()
                elif getattr(self.source, "live", False):  # a frame goes out as soon as it comes
                    # asked in short waits: a producer stopped meanwhile must not be waiting for a frame
                    while await asyncio.wrap_future(producer.upcoming(LIVE_WAIT)) == WAITING:
                        pass
                    next_tick = time.monotonic()
                now = time.monotonic()
                if now < next_tick:
                    await asyncio.sleep(next_tick - now)
                elif now - next_tick > interval:
                    self.stats.late_frames += 1
                    next_tick = now  # fell behind: don't catch up with a burst
                next_tick += interval
                produced = await asyncio.wrap_future(producer.submit(frame_id, time.time(), self.share_wanted()))
                if produced is None:
                    if frame_id == 0:
                        logger.error("%s produced no frames (every file unreadable?)", self.source.description)
                    break
                frame_id += 1
                await self._publish(produced.encoded, produced.fallback_frames)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("frame production failed; the stream has stopped")
        finally:
            await asyncio.shield(asyncio.to_thread(producer.close))
            self.finished = True
            async with self._changed:
                self._changed.notify_all()
            logger.info("broadcast ended after %d frames", self.stats.frames_encoded)

    async def _publish(self, encoded: EncodedFrame, fallback_frames: int) -> None:
        s = self.stats
        s.frames_encoded += 1
        s.points_encoded += encoded.point_count
        s.bytes_encoded += encoded.nbytes
        s.encode_seconds += encoded.encode_seconds
        s.fallback_frames = fallback_frames
        async with self._changed:
            self.latest = encoded
            self._changed.notify_all()

    def metadata(self) -> dict[str, Any]:
        """What a viewer is told about the stream when it joins (the ``hello`` message's stream fields)."""
        return {"source": self.source.description, "frames": len(self.source), "fps": self.fps,
                "encoding": self.options.encoding.name.lower(), "quantize_mm": self.options.quantize_mm}

    async def wait_newer(self, than: int | None) -> EncodedFrame | None:
        """The newest frame whose id differs from ``than``; None once the stream has finished."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self.finished or (self.latest is not None and self.latest.frame_id != than))
            if self.latest is not None and self.latest.frame_id != than:
                return self.latest
            return None
