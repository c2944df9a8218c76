"""A one-item hand-over between a live sensor's reader thread and the stream: the newest item wins."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import numpy as np

from .source import IDLE_SECONDS, Frame

T = TypeVar("T")


class Latest(Generic[T]):
    """``put`` replaces what was not taken; ``take`` waits for an item."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._ready = threading.Condition()
        self.stopped = False

    def put(self, item: T) -> None:
        with self._ready:
            self._item = item
            self._ready.notify()

    def take(self, timeout: float) -> T | None:
        """The newest item, waiting at most ``timeout`` seconds for one (None then)."""
        with self._ready:
            self._ready.wait_for(lambda: self._item is not None, timeout)
            item, self._item = self._item, None
            return item

    def stop(self) -> None:
        self.stopped = True


def newest_frames(latest: Latest[tuple[float, np.ndarray]], points_of: Callable[[np.ndarray], np.ndarray]
                  ) -> Iterator[Frame | None]:
    """A live source's frames: the newest (capture time, raw points) its reader thread handed over, made
    points by ``points_of``; None after IDLE_SECONDS without one, so whoever reads may stop between frames."""
    index = 0
    while True:
        item = latest.take(IDLE_SECONDS)
        if item is None:
            yield None
            continue
        stamp, raw = item
        yield Frame(index, stamp, points_of(raw))
        index += 1
