"""Byte planes: an array of unsigned integers stored as its low bytes, then its second bytes, and so on (FLOAT32).

Grouping bytes of equal significance lets the entropy coder see the small high bytes of small numbers
together, and a plane that is always zero costs nothing: a stream of values below 256 needs one plane.
"""
from __future__ import annotations

import numpy as np


def split(values: np.ndarray, planes: int) -> bytes:
    """The ``planes`` low bytes of each value (uint32), plane by plane."""
    raw = np.ascontiguousarray(values, dtype="<u4").view(np.uint8).reshape(len(values), 4)
    return np.ascontiguousarray(raw[:, :planes].T).tobytes()


def join(raw: bytes | memoryview, count: int, planes: int) -> np.ndarray:
    """Inverse of split: ``count`` uint32 values from ``planes`` planes of ``count`` bytes."""
    out = np.zeros((count, 4), dtype=np.uint8)
    out[:, :planes] = np.frombuffer(raw, dtype=np.uint8, count=count * planes).reshape(planes, count).T
    return out.view("<u4").reshape(count)
