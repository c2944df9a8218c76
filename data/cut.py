"""``--frames START:STOP`` and ``--time START:STOP``: a part of any source.

Frames are counted from 0 in each pass (Python slice rules: either end may be left out; no negative
numbers, since a live or endless source has no end to count from). Times are seconds from the source's
first frame, by its timestamps (for recordings, the recorded times).
"""
from __future__ import annotations

from collections.abc import Iterator

from .source import Frame, FrameSource, SourceError


def parse_range(text: str, flag: str, kind: type = int) -> tuple[float | None, float | None]:
    """``START:STOP`` (either may be empty) as numbers of ``kind``; SourceError saying what is wrong."""
    start_text, sep, stop_text = text.partition(":")
    if not sep:
        raise SourceError(f"{flag} takes START:STOP (either may be left out), got {text!r}")
    try:
        start = kind(start_text) if start_text.strip() else None
        stop = kind(stop_text) if stop_text.strip() else None
    except ValueError:
        raise SourceError(f"{flag} takes START:STOP with {kind.__name__} numbers, got {text!r}") from None
    if any(v is not None and v < 0 for v in (start, stop)):
        raise SourceError(f"{flag}: counted from the start, so no negative numbers, got {text!r}")
    if start is not None and stop is not None and stop <= start:
        raise SourceError(f"{flag} {text}: STOP must be after START")
    return start, stop


def place(position: int, elapsed: float, frames: tuple[float | None, float | None],
          seconds: tuple[float | None, float | None]) -> int:
    """Where the frame at ``position`` (from 0), ``elapsed`` seconds after the first, is against the cut:
    -1 before it (skip), 0 in it, 1 after it (nothing more comes)."""
    start, stop = frames
    t_start, t_stop = seconds
    if (stop is not None and position >= stop) or (t_stop is not None and elapsed >= t_stop):
        return 1
    if (start is not None and position < start) or (t_start is not None and elapsed < t_start):
        return -1
    return 0


class CutSource(FrameSource):
    """The frames of ``source`` whose index is in ``frames`` and whose time from the first frame is in
    ``seconds`` (each a (start, stop) pair, None for an open end)."""

    def __init__(self, source: FrameSource, frames: tuple[float | None, float | None] = (None, None),
                 seconds: tuple[float | None, float | None] = (None, None)) -> None:
        self.source = source
        self.frames_range = frames
        self.seconds = seconds
        self.native_fps = source.native_fps
        self.timed = getattr(source, "timed", False)
        self.live = getattr(source, "live", False)
        self.description = source.description + describe_cut(frames, seconds)

    def __len__(self) -> int:
        start, stop = self.frames_range
        total = len(self.source)
        if self.seconds != (None, None) or total == 0:
            return total  # not known without reading the timestamps
        return max(0, min(total, int(stop) if stop is not None else total) - int(start or 0))

    def frames(self) -> Iterator[Frame | None]:
        first: float | None = None
        index = 0
        for frame in self.source.frames():
            if frame is None:  # a live source, idle
                yield None
                continue
            if first is None:
                first = frame.timestamp
            where = place(frame.index, frame.timestamp - first, self.frames_range, self.seconds)
            if where > 0:
                return
            if where < 0:
                continue
            yield Frame(index, frame.timestamp, frame.points, frame.colours)
            index += 1


def describe_cut(frames: tuple[float | None, float | None], seconds: tuple[float | None, float | None]) -> str:
    """", frames 10:20 and seconds 5:" for a description; "" when nothing is cut."""
    parts = [f"frames {_show(frames)}" if frames != (None, None) else "",
             f"seconds {_show(seconds)}" if seconds != (None, None) else ""]
    cut = " and ".join(p for p in parts if p)
    return f", {cut}" if cut else ""


def _show(pair: tuple[float | None, float | None]) -> str:
    return ":".join("" if v is None else f"{v:g}" for v in pair)
