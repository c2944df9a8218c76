"""Escaped bytes: a stream of small unsigned integers as one byte each, the rare large ones escaped.

Each value below 255 is its own byte in the main plane; a larger value is the byte 255 there, and its
excess over 255 goes to an exception list stored after all main planes, in byte planes (codec/byte_planes.py)
of the smallest width that holds the list's largest excess. A prediction residual is almost always small,
so the main plane holds nearly all the information in one byte per value, with one distribution for the
entropy coder to learn (byte planes would split each value across several planes, each needing its own
table, which costs more than the values themselves in a chunk of a thousand points).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import byte_planes

ESCAPE = 255


@dataclass(frozen=True)
class Exceptions:
    """The excess over ``ESCAPE`` of a stream's escaped values, in ``width`` byte planes (0: none)."""

    raw: bytes
    width: int


NONE = Exceptions(b"", 0)


def main_plane(values: np.ndarray) -> np.ndarray:
    """The one-byte plane of unsigned ``values`` (any length; ``ESCAPE`` where a value is too large)."""
    return np.minimum(values, ESCAPE).astype(np.uint8)


def exceptions_of_runs(values: np.ndarray, firsts: np.ndarray) -> list[Exceptions]:
    """The exception list of each run of ``values`` (runs starting at ``firsts``), in one pass."""
    positions = np.flatnonzero(values >= ESCAPE)
    if not len(positions):
        return [NONE] * len(firsts)
    excess = values[positions] - ESCAPE
    edges = np.searchsorted(positions, np.append(firsts, len(values))).tolist()
    out = []
    for start, stop in zip(edges[:-1], edges[1:]):
        if start == stop:
            out.append(NONE)
            continue
        width = byte_planes.width_of(int(excess[start:stop].max()))
        out.append(Exceptions(byte_planes.split(excess[start:stop], width), width))
    return out


def join(main: np.ndarray, raw: memoryview, width: int) -> tuple[np.ndarray, int]:
    """The values (int64) of a main plane whose exceptions start at ``raw[0]``, and the exception bytes used.

    Raises ValueError when ``width`` does not match the escapes (0 with escapes, or escapes absent with a
    width) or ``raw`` is too short for them.
    """
    values = main.astype(np.int64)
    escaped = main == ESCAPE
    count = int(np.count_nonzero(escaped))
    if bool(count) != bool(width):
        raise ValueError(f"{count} escaped values with an exception width of {width}")
    if not count:
        return values, 0
    if not 1 <= width <= 4:
        raise ValueError(f"invalid exception width {width}")
    used = count * width
    if len(raw) < used:
        raise ValueError(f"{count} exceptions of {width} bytes need {used} bytes, {len(raw)} left")
    values[escaped] = ESCAPE + byte_planes.join(raw[:used], count, width).astype(np.int64)
    return values, used
