"""Publishes the stream: one encoded frame per tick, encoded once, newest frame for every viewer."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from data.source import FrameSource

from .encoder import EncodedFrame, EncoderOptions
from .producer import FrameProducer

logger = logging.getLogger(__name__)


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


class FrameBroadcaster:
    """Publishes ``EncodedFrame``s at ``fps``; viewers wait on :meth:`wait_newer`.

    Frames are produced (read + encoded) in a child process, see stream/producer.py. When
    ``loop`` is false the stream ends after one pass over the source.
    """

    def __init__(self, source: FrameSource, options: EncoderOptions, fps: float, loop: bool = True) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.source = source
        self.options = options
        self.fps = fps
        self.loop = loop
        self.latest: EncodedFrame | None = None
        self.finished = False
        self.stats = BroadcastStats()
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        """Publish frames until the source ends (or forever when looping). Cancel to stop."""
        producer = FrameProducer(self.source, self.options, self.loop)
        interval = 1.0 / self.fps
        next_tick = time.monotonic()
        frame_id = 0
        try:
            while True:
                now = time.monotonic()
                if now < next_tick:
                    await asyncio.sleep(next_tick - now)
                elif now - next_tick > interval:
                    self.stats.late_frames += 1
                    next_tick = now  # fell behind: don't catch up with a burst
                next_tick += interval
                produced = await asyncio.wrap_future(producer.submit(frame_id, time.time()))
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
