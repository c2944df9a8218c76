"""``server.py --source ... --probe``: what a source holds, without streaming it."""
from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import numpy as np

from .source import Frame, FrameSource

SAMPLE_FRAMES = 5
"""Frames read to describe the points (a source may be long: the rest are not read)."""
LIVE_PATIENCE = 5.0
"""Seconds a live source (a sensor) is listened to."""


def sampled(source: FrameSource, patience: float = LIVE_PATIENCE) -> Iterator[Frame]:
    """The source's frames; a live one's for ``patience`` seconds at most."""
    deadline = time.monotonic() + patience
    for frame in source.frames():
        if frame is not None:
            yield frame
        if getattr(source, "live", False) and time.monotonic() > deadline:
            return


def describe(source: FrameSource) -> str:
    lines = [f"source: {source.description}",
             f"frames per pass: {len(source) or 'not known (live or endless)'}",
             f"rate: {source.native_fps:.3g} frames/s" if source.native_fps else "rate: not known (streamed at --fps)"]
    whole = getattr(source, "source", source)  # a cut (--frames, --time) of it
    topic = getattr(whole, "topic", None)
    topics = getattr(whole, "topics", None)
    if topic is not None and topics is not None:
        lines.append(f"time span: {topic.span:.3f} s (the whole recording)")
        lines.append("topics:")
        lines += [f"  {t.name}: {t.count} × {t.msgtype}{'  <- streamed' if t == topic else ''}" for t in topics]
    sample = list(itertools.islice(sampled(source), SAMPLE_FRAMES))
    if not sample:
        lines.append("no readable frame")
        return "\n".join(lines)
    counts = [len(f.points) for f in sample]
    points = np.concatenate([f.points for f in sample])
    low, high = points[:, :3].min(axis=0), points[:, :3].max(axis=0)
    lines.append(f"points per frame (first {len(sample)}): {min(counts):,} to {max(counts):,}")
    lines.append("extent (m): " + ", ".join(f"{axis} {lo:.1f} to {hi:.1f}" for axis, lo, hi in zip("xyz", low, high)))
    intensity = points[:, 3]
    lines.append(f"intensity (0..1 as streamed): {intensity.min():.3f} to {intensity.max():.3f}, "
                 f"{np.unique(intensity).size:,} distinct values")
    if len(sample) > 1:
        lines.append(f"timestamps: {sample[0].timestamp:.3f} s, then every "
                     f"{np.median(np.diff([f.timestamp for f in sample])):.3f} s")
    return "\n".join(lines)
