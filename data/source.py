"""The frame-source interface every point source implements."""
from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

MAX_FRAME_POINTS = 1 << 21
"""Largest frame a source yields and a chunk may declare (2,097,152 points; a 128-beam sensor sends about
260k): it bounds the frame buffer a receiver allocates (32 MiB of float32 x, y, z, intensity)."""


IDLE_SECONDS = 0.5
"""Longest a live source's ``frames()`` waits before it yields None (nothing yet)."""


class SourceError(Exception):
    """A source cannot be opened (missing path, no frames, bad arguments). The message says why."""


@dataclass(frozen=True)
class Frame:
    """One LiDAR sweep."""

    index: int
    """Position of the frame in its source (0-based)."""
    timestamp: float
    """Source time in seconds (sensor time for recorded data, index / fps for synthetic)."""
    points: np.ndarray
    """N × 4 float32: x, y, z in metres (sensor frame, z up), intensity in 0..1."""
    colours: np.ndarray | None = None
    """N × 3 uint8 red, green, blue, when the source has colours."""


class FrameSource(abc.ABC):
    """A finite or endless sequence of frames. Opening a source validates it and raises SourceError."""

    #: Short human-readable description, e.g. "synthetic (seed 1)" or "folder /data/run3 (120 files)".
    description: str = ""
    #: Native frame rate, if the source knows it.
    native_fps: float | None = None

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of frames in one pass over the source."""

    @abc.abstractmethod
    def frames(self) -> Iterator[Frame | None]:
        """One pass over the source. Unreadable frames are skipped with a warning, never raised.

        A live source (``live = True``: frames come when they come, from a sensor or a program) yields None
        when no frame came for IDLE_SECONDS, so whoever reads it can stop between frames."""


def first_frame(source: FrameSource) -> Frame:
    """The first frame the source yields; SourceError when a whole pass yields none (every file was
    skipped, each with a warning naming it). Reads until the first good frame only."""
    for frame in source.frames():
        return frame
    raise SourceError(f"{source.description} has no readable frame: every file was skipped (the warnings above "
                      "say why)")


def as_points(array: np.ndarray) -> np.ndarray:
    """Normalise an N × 3 or N × 4 array to contiguous N × 4 float32 (missing intensity → 0).

    Raises ValueError for any other shape or more points than a frame may hold (MAX_FRAME_POINTS), and
    drops rows with non-finite coordinates.
    """
    return with_colours(array, None)[0]


def with_colours(array: np.ndarray, colours: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """as_points, and the rows of ``colours`` (N × 3 uint8, or None) that go with the points it keeps."""
    if colours is not None and (colours.shape != (len(array), 3)):
        raise ValueError(f"{len(array)} points with colours of shape {colours.shape}: expected ({len(array)}, 3)")
    if array.ndim != 2 or array.shape[1] not in (3, 4):
        raise ValueError(f"expected N×3 or N×4 points, got shape {array.shape}")
    if array.shape[0] > MAX_FRAME_POINTS:
        raise ValueError(f"{array.shape[0]} points: more than the {MAX_FRAME_POINTS} a frame may hold")
    out = np.zeros((array.shape[0], 4), dtype=np.float32)
    out[:, : array.shape[1]] = array
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        out = out[finite]
        colours = colours[finite] if colours is not None else None
    return np.ascontiguousarray(out), (np.ascontiguousarray(colours, dtype=np.uint8) if colours is not None else None)
