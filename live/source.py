"""The frames a program publishes (``Streamer.publish``), as a frame source the producer process reads.

The program's thread and the producer process share a one-frame queue: publishing replaces a frame that
is still waiting (newest frame wins, as everywhere in the stream), so a program that publishes faster
than frames can be encoded never builds a backlog. ``None`` on the queue ends the stream.
"""
from __future__ import annotations

import logging
import multiprocessing
import queue
from collections.abc import Iterator
from typing import Any

import numpy as np

from data.source import IDLE_SECONDS, Frame, FrameSource, with_colours

logger = logging.getLogger(__name__)


class LiveSource(FrameSource):
    """Endless until :meth:`end`; ``publish`` from any thread of the program's process."""

    live = True

    def __init__(self, description: str = "published by a program") -> None:
        self.description = description
        self.queue: Any = multiprocessing.get_context("spawn").Queue(1)
        self.published = 0
        self.replaced = 0
        """Frames replaced by a newer one before the producer took them."""

    def __len__(self) -> int:
        return 0  # not known: frames come as the program publishes them

    def publish(self, points: np.ndarray, timestamp: float, colours: np.ndarray | None = None) -> None:
        """Queue a frame (N × 3 or N × 4, and N × 3 colours 0..255 or None; ValueError for anything else),
        replacing one still waiting."""
        if colours is not None:
            colours = np.asarray(colours)
            if colours.dtype != np.uint8 and (colours.size and (colours.min() < 0 or colours.max() > 255)):
                raise ValueError("colours are red, green, blue bytes: 0..255")
            colours = colours.astype(np.uint8)
        kept, kept_colours = with_colours(np.asarray(points, dtype=np.float32), colours)
        self.published += 1
        self._offer((float(timestamp), kept, kept_colours))

    def end(self) -> None:
        """The stream ends once the producer reads this (a waiting frame is dropped)."""
        self._offer(None)

    def _offer(self, item: tuple[float, np.ndarray, np.ndarray | None] | None) -> None:
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.replaced += 1
                except queue.Empty:
                    pass  # the producer took it meanwhile: try again

    def frames(self) -> Iterator[Frame | None]:
        index = 0
        while True:
            try:
                item = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                yield None  # nothing published yet: whoever reads may stop here
                continue
            if item is None:
                return
            timestamp, points, colours = item
            if len(points) == 0:
                continue
            yield Frame(index, timestamp, points, colours)
            index += 1
