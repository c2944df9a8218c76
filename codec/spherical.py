"""SPHERICAL payload: points quantised in the sensor's own coordinates, then predicted from the previous point.

A spinning LiDAR measures a range along a direction; in scan order the next point's direction is a small,
nearly constant step from the last one and its range is usually close. So each point is stored as range,
azimuth and elevation integers, each integer as its difference from the previous point's (the chunk's
first values are in the header); the residuals and the intensity are then coded by an adaptive binary
range coder (codec/range_coding.py).

Quantisation, for a step ``s``: range to ``R`` multiples of ``s``. Angles are counted in units of
``a = 2π / turn`` with ``turn = ceil(2π · r_max / s)``, so that at the chunk's largest range ``r_max`` one
unit is at most ``s`` of arc. A nearer point needs coarser angles: point ``i`` rounds both angles to
multiples of ``2**level(R_i)`` units, with ``level(R) = floor(log2(q))`` for ``q = turn // (7·(R + 1)) >= 1``
and 0 otherwise, the largest power of two whose arc at the point's range is still at most ``s`` (7 > 2π
keeps the bound through the rounding of the range). Every decoded point is then within ``s·√3/2`` of the
original (range error ``s/2``, two orthogonal arc errors of at most ``s/2``): the same bound as rounding
x, y and z to a grid of ``s``.

The difference ``D`` of two consecutive angles is a multiple of ``2**m``, ``m`` the smaller of the two
points' levels, so it is stored divided by ``2**m`` (``>>`` is the floor shift). Along a ring the azimuth
advances by the same step from point to point, so the azimuth's is stored less the chunk's typical step
(``azimuth_step``, the median ``D``, in the header): ``(D >> m) - (azimuth_step >> m)``. Azimuths are
unwrapped within a chunk (a ring crossing ±π continues past it), so no difference is ever near a turn.

Intensity (uint8) is coded as it is, or, when the header's flag says so, as its difference from the
previous point's modulo 256, a signed value from -128 to 127 (the encoder picks whichever of the two has
the lower entropy over the frame: a real sensor's intensity is noisy enough that differences cost more, a
synthetic one's is smooth).

Decoding (identical in client/src/protocol.js)::

    r = R·s, az = A·a, el = E·a
    x = (r·cos el)·cos az, y = (r·cos el)·sin az, z = r·sin el
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

MAX_TURN = 1 << 30
"""Largest number of angle steps per turn (keeps every difference and residual within int32)."""
MAX_RANGE_STEPS = (1 << 31) - 1
MIN_TURN = 4
LEVEL_DIVISOR = 7
"""An integer above 2π: ``level`` compares ``turn`` with ``7·(R + 1)``, not with ``2π·r/s``."""
INTENSITY_DIFFERENCES = 0x01
"""Flag: intensity is stored as differences modulo 256 (else as it is)."""
FLAGS = INTENSITY_DIFFERENCES
"""Every flag this version defines; a chunk with another bit set is refused."""


@dataclass(frozen=True)
class ChunkPayload:
    """The coded points of one chunk (codec/range_coding.py) and the header fields that go with them."""

    payload: bytes
    turn: int
    """Angle steps per turn."""
    bases: tuple[int, int, int]
    """The first point's range, azimuth and elevation integers."""
    azimuth_step: int
    """The chunk's typical azimuth difference, in angle steps."""
    flags: int


def levels(ranges: np.ndarray, turn: np.ndarray | int) -> np.ndarray:
    """Each point's angle level (int64): its angles are multiples of ``2**level`` steps."""
    q = turn // (LEVEL_DIVISOR * (ranges + 1))
    return np.maximum(np.frexp(q.astype(np.float64))[1] - 1, 0).astype(np.int64)


class SphericalFrame:
    """A frame in spherical coordinates, computed once; any run of its points becomes a chunk payload.

    Each chunk quantises its angles for its own largest range (a chunk on the ground near the sensor
    needs far coarser angles than one reaching a building 80 m away).
    Raises ValueError when the frame cannot be coded this way (a coordinate that is not finite, or a range
    beyond 2**31 steps).
    """

    def __init__(self, points: np.ndarray, step: float, runs: Sequence[tuple[int, int]] | None = None) -> None:
        """``runs``: (start, stop) pairs in increasing order, when only these runs of the points will be coded
        (an encoder coding part of a frame): the frame is computed, and checked, there only."""
        points = np.ascontiguousarray(points, dtype=np.float32)  # what the wire carries; one compiled kernel
        self.step = float(np.float32(step))
        index = None if runs is None else np.concatenate([np.arange(a, b) for a, b in runs] or [np.arange(0)])
        taken = points if index is None else points[index]
        r, azimuth, elevation = _kernels().polar(taken)
        r_max = float(r.max()) if len(r) else 0.0
        if not math.isfinite(r_max):  # a range in float64 is finite exactly when x, y and z are (max keeps NaN)
            raise ValueError("a point has a coordinate that is not finite")
        if r_max / self.step >= MAX_RANGE_STEPS or turn_for(r_max, self.step) > MAX_TURN:
            raise ValueError(f"a point is {r_max:.0f} m away: too far for a {self.step * 1000:g} mm step")
        intensity = np.rint(np.clip(taken[:, 3], 0.0, 1.0) * 255.0).astype(np.uint8)
        self.flags = INTENSITY_DIFFERENCES if entropy(np.diff(intensity)) < entropy(intensity) else 0
        """Whether intensity goes as differences: chosen per frame, by the lower order-0 entropy."""
        ranges = np.rint(r / self.step).astype(np.int64)
        self.r, self.azimuth, self.elevation, self.range, self.intensity = (
            (r, azimuth, elevation, ranges, intensity) if index is None
            else (_spread(values, index, len(points)) for values in (r, azimuth, elevation, ranges, intensity)))
        """Per point of the frame (zeros outside ``runs``)."""

    def chunks(self, bounds: Sequence[tuple[int, int]]) -> list[ChunkPayload]:
        """The coded payloads of runs of points (``bounds``: (start, stop) pairs in increasing order, none
        overlapping the next; gaps between them are skipped), quantised in one compiled pass a point
        (codec/spherical_kernels.py) and range-coded, the runs shared out over the cores."""
        starts = np.array([start for start, _ in bounds], np.int64)
        counts = np.array([stop - start for start, stop in bounds], np.int64)
        whole = slice(bounds[0][0], bounds[-1][1])
        firsts = starts - starts[0]
        runs, n = len(bounds), whole.stop - whole.start
        turns, azimuth_steps, bases = np.empty(runs, np.int64), np.empty(runs, np.int64), np.empty((runs, 3), np.int64)
        # zeros: the coder's bounds check reads the whole span, gaps included
        residuals = (np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64))
        intensity = np.zeros(n, np.int64)
        as_differences = bool(self.flags & INTENSITY_DIFFERENCES)
        _kernels().quantise_runs(self.r[whole], self.range[whole], self.azimuth[whole], self.elevation[whole],
                                 self.intensity[whole].astype(np.int64), firsts, counts, self.step, as_differences,
                                 turns, bases, azimuth_steps, *residuals, intensity)
        payloads = _range_coding().encode(*residuals, intensity, firsts, counts, as_differences)
        return [ChunkPayload(payload, turn, (base[0], base[1], base[2]), step, self.flags)
                for payload, turn, base, step in zip(payloads, turns.tolist(), bases.tolist(), azimuth_steps.tolist())]


def _spread(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """``values`` at ``index`` of an array of ``n`` zeros."""
    out = np.zeros(n, values.dtype)
    out[index] = values
    return out


def _range_coding() -> ModuleType:
    """codec/range_coding.py, imported when first needed: numba takes half a second to import, which every
    process that only reads chunk headers (the streamer's event loop, relay nodes) would pay at start."""
    from . import range_coding
    return range_coding


def _kernels() -> ModuleType:
    """codec/spherical_kernels.py (numba), imported when first needed, like the range coder."""
    from . import spherical_kernels
    return spherical_kernels


def warm_up(encoding: bool = False) -> None:
    """Load the compiled range coder now (about a second, from numba's cache; compiled first if the cache is
    missing), and with ``encoding`` the quantiser's kernels too, so that neither an encoder's first frame nor
    a viewer's first chunk waits for them in the middle of a stream."""
    _range_coding().compile_ahead()
    if encoding:
        points = np.array([[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.5, 0.25], [-1.0, 0.1, 0.0, 1.0]], np.float32)
        for frame in (SphericalFrame(points, 0.001), SphericalFrame(points[[0, 0, 0]], 0.001)):  # both intensities
            frame.chunks([(0, 2), (2, 3)])


def entropy(values: np.ndarray) -> float:
    """Order-0 entropy of uint8 ``values``, bits in all."""
    counts = np.bincount(values, minlength=256)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts / max(1, len(values)))).sum())


def turn_for(r_max: float, step: float) -> int:
    """Angle steps per turn such that an angle step is at most ``step`` of arc at ``r_max``."""
    return max(MIN_TURN, math.ceil(2 * math.pi * r_max / step))


def decode(payload: bytes | memoryview, count: int, step: float, turn: int, bases: tuple[int, int, int],
           azimuth_step: int, flags: int) -> tuple[np.ndarray, int]:
    """``count`` × 4 float32 points from a coded payload (codec/range_coding.py) at the start of
    ``payload``, and the bytes the payload took.

    Raises ValueError when the payload is inconsistent: the coder running past its end, a range outside
    0..MAX_RANGE_STEPS, an angle difference larger than a turn.
    """
    d_range, d_azimuth, d_elevation, intensity, used = _range_coding().decode(
        payload, count, bool(flags & INTENSITY_DIFFERENCES))
    ranges = bases[0] + np.cumsum(d_range)
    if ranges.min() < 0 or ranges.max() > MAX_RANGE_STEPS:
        raise ValueError("a range is outside 0..2**31-1 steps")
    level = levels(ranges, turn)
    shift = np.minimum(level, np.roll(level, 1))
    scale = np.left_shift(1, shift)
    d_azimuth = (d_azimuth + (azimuth_step >> shift)) * scale
    d_elevation = d_elevation * scale
    d_azimuth[0] = d_elevation[0] = 0
    if np.abs(d_azimuth).max() > turn or np.abs(d_elevation).max() > turn:
        raise ValueError("an angle difference is larger than a turn")
    if flags & INTENSITY_DIFFERENCES:
        intensity = np.cumsum(intensity) & 255
    angle = 2 * math.pi / turn
    r = ranges * np.float64(step)
    azimuth = (bases[1] + np.cumsum(d_azimuth)) * angle
    elevation = (bases[2] + np.cumsum(d_elevation)) * angle
    horizontal = r * np.cos(elevation)
    points = np.empty((count, 4), dtype=np.float32)
    points[:, 0] = horizontal * np.cos(azimuth)
    points[:, 1] = horizontal * np.sin(azimuth)
    points[:, 2] = r * np.sin(elevation)
    points[:, 3] = intensity / 255.0
    return points, used
