"""The optional colour plane of a chunk (header flag COLOUR): each point's red, green and blue bytes.

Stored after the encoding's own sections as three planes (every red, then every green, then every
blue), each as the difference from the previous point's value modulo 256: neighbouring points of a scan
mostly share their colour, so the differences are mostly zero. The first point's values are stored as
they are. It ends a zstd block of its own (codec/zstd_payload.py).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BYTES_PER_POINT = 3


def planes(colours: np.ndarray, bounds: Sequence[tuple[int, int]]) -> list[bytes]:
    """The colour sections of runs of ``colours`` (N × 3 uint8): ``bounds`` as (start, stop) pairs in
    increasing order, none overlapping the next (gaps are skipped)."""
    whole = np.ascontiguousarray(colours[bounds[0][0]:bounds[-1][1]], dtype=np.uint8)
    deltas = np.empty_like(whole)
    deltas[0] = whole[0]
    np.subtract(whole[1:], whole[:-1], out=deltas[1:])  # uint8: wraps modulo 256
    firsts = [start - bounds[0][0] for start, _ in bounds]
    deltas[firsts] = whole[firsts]
    return [deltas[a - bounds[0][0]:b - bounds[0][0]].T.tobytes() for a, b in bounds]


def decode(raw: bytes | memoryview, count: int) -> np.ndarray:
    """``count`` × 3 uint8 colours from a colour section of exactly ``count`` × 3 bytes."""
    if len(raw) != count * BYTES_PER_POINT:
        raise ValueError(f"colour plane has {len(raw)} bytes, {count} points need {count * BYTES_PER_POINT}")
    deltas = np.frombuffer(raw, dtype=np.uint8).reshape(BYTES_PER_POINT, count)
    return np.ascontiguousarray(np.cumsum(deltas, axis=1, dtype=np.uint8).T)
