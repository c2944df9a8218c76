"""Byte planes: an array of unsigned integers stored as its low bytes, then its second bytes, and so on.

Grouping bytes of equal significance lets the entropy coder see the small high bytes of small numbers
together, and a plane that is always zero costs nothing: a stream of values below 256 needs one plane.
"""
from __future__ import annotations

import numpy as np


def width_of(top: int) -> int:
    """Bytes per value (1..4) needed for values up to ``top`` (below 2**32)."""
    return 1 if top < 1 << 8 else 2 if top < 1 << 16 else 3 if top < 1 << 24 else 4


def split(values: np.ndarray, planes: int) -> bytes:
    """The ``planes`` low bytes of each value (uint32), plane by plane."""
    raw = np.ascontiguousarray(values, dtype="<u4").view(np.uint8).reshape(len(values), 4)
    return np.ascontiguousarray(raw[:, :planes].T).tobytes()


def join(raw: bytes | memoryview, count: int, planes: int) -> np.ndarray:
    """Inverse of split: ``count`` uint32 values from ``planes`` planes of ``count`` bytes."""
    out = np.zeros((count, 4), dtype=np.uint8)
    out[:, :planes] = np.frombuffer(raw, dtype=np.uint8, count=count * planes).reshape(planes, count).T
    return out.view("<u4").reshape(count)


def zigzag(signed: np.ndarray) -> np.ndarray:
    """Signed integers (int64, within int32) as unsigned: 0, -1, 1, -2, ... → 0, 1, 2, 3, ..."""
    return ((signed << 1) ^ (signed >> 63)).astype(np.uint32)


def unzigzag(unsigned: np.ndarray) -> np.ndarray:
    u = unsigned.astype(np.int64)
    return (u >> 1) ^ -(u & 1)
