"""Which azimuth sectors of the scene a frame's points cover: the benchmark's measure of a partial frame.
client/src/coverage.js computes the same for the browser viewer."""
from __future__ import annotations

import numpy as np

SECTORS = 36
"""10 degrees each."""
STRIDE = 16
"""Every 16th point is plenty to find the sectors a frame reaches."""


def sectors_of(points: np.ndarray) -> np.ndarray:
    """Boolean per sector: some point that arrived (not NaN) falls in it."""
    sample = points[::STRIDE]
    sample = sample[~np.isnan(sample[:, 0])]
    index = np.floor((np.arctan2(sample[:, 1], sample[:, 0]) + np.pi) / (2 * np.pi) * SECTORS).astype(int)
    hit = np.zeros(SECTORS, dtype=bool)
    hit[np.clip(index, 0, SECTORS - 1)] = True
    return hit


class SectorCoverage:
    """Tracks the sectors any frame reached so far; ``coverage`` is a frame's share of them, in %."""

    def __init__(self) -> None:
        self.seen = np.zeros(SECTORS, dtype=bool)

    def coverage(self, points: np.ndarray) -> float:
        hit = sectors_of(points)
        self.seen |= hit
        return 100.0 * hit.sum() / self.seen.sum() if self.seen.any() else 0.0
