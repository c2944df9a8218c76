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

    def __init__(self, points: np.ndarray, step: float) -> None:
        xyz = np.asarray(points[:, :3], dtype=np.float64)
        if not np.isfinite(xyz).all():
            raise ValueError("a point has a coordinate that is not finite")
        self.step = float(np.float32(step))
        x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        horizontal = np.sqrt(x * x + y * y)  # 4× faster than hypot; no overflow below 1e150 m
        self.r = np.sqrt(horizontal * horizontal + z * z)
        r_max = float(self.r.max()) if len(self.r) else 0.0
        if r_max / self.step >= MAX_RANGE_STEPS or turn_for(r_max, self.step) > MAX_TURN:
            raise ValueError(f"a point is {r_max:.0f} m away: too far for a {self.step * 1000:g} mm step")
        self.range = np.rint(self.r / self.step).astype(np.int64)
        self.azimuth = np.arctan2(xyz[:, 1], xyz[:, 0])
        self.elevation = np.arctan2(xyz[:, 2], horizontal)
        self.intensity = np.rint(np.clip(points[:, 3], 0.0, 1.0) * 255.0).astype(np.uint8)
        self.flags = INTENSITY_DIFFERENCES if entropy(np.diff(self.intensity)) < entropy(self.intensity) else 0
        """Whether intensity goes as differences: chosen per frame, by the lower order-0 entropy."""

    def chunks(self, bounds: Sequence[tuple[int, int]]) -> list[ChunkPayload]:
        """The coded payloads of consecutive runs of points (``bounds``: (start, stop) pairs, each starting where
        the previous one stopped), computed in one vectorised pass."""
        starts = np.array([start for start, _ in bounds])
        counts = np.array([stop - start for start, stop in bounds])
        whole = slice(bounds[0][0], bounds[-1][1])
        firsts = starts - starts[0]
        turns = np.maximum(MIN_TURN, np.ceil(2 * math.pi * np.maximum.reduceat(self.r[whole], firsts) / self.step))
        turns = turns.astype(np.int64)
        turn = np.repeat(turns, counts)
        ranges = self.range[whole]
        level = levels(ranges, turn)
        unit = (2 * math.pi / turn) * np.exp2(level)
        scale = np.left_shift(1, level)
        azimuth = np.rint(unwrapped(self.azimuth[whole], firsts, counts) / unit).astype(np.int64) * scale
        elevation = np.rint(self.elevation[whole] / unit).astype(np.int64) * scale
        shift = np.minimum(level, np.roll(level, 1))
        d_azimuth = differences(azimuth, firsts)
        azimuth_steps = medians(d_azimuth, firsts, counts)
        residuals = (differences(ranges, firsts),
                     (d_azimuth >> shift) - (np.repeat(azimuth_steps, counts) >> shift),
                     differences(elevation, firsts) >> shift)
        for values in residuals:
            values[firsts] = 0
        intensity = self.intensity[whole].astype(np.int64)
        if self.flags & INTENSITY_DIFFERENCES:
            intensity = signed_byte(differences(intensity, firsts))
            intensity[firsts] = signed_byte(self.intensity[whole][firsts].astype(np.int64))
        as_differences = bool(self.flags & INTENSITY_DIFFERENCES)
        payloads = _range_coding().encode(*residuals, intensity, firsts, counts, as_differences)
        return [ChunkPayload(payload, int(turns[k]), (int(ranges[first]), int(azimuth[first]), int(elevation[first])),
                             int(azimuth_steps[k]), self.flags)
                for k, (first, payload) in enumerate(zip(firsts.tolist(), payloads))]


def _range_coding() -> ModuleType:
    """codec/range_coding.py, imported when first needed: numba takes half a second to import, which every
    process that only reads chunk headers (the streamer's event loop, relay nodes) would pay at start."""
    from . import range_coding
    return range_coding


def warm_up() -> None:
    """Load the compiled range coder now (about a second, from numba's cache), so that neither an encoder's
    first frame nor a viewer's first chunk waits for it in the middle of a stream."""
    _range_coding().compile_ahead()


def unwrapped(azimuth: np.ndarray, firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Azimuths (radians) made continuous within each run: a turn added or taken where they jump by more
    than half a turn."""
    jumps = np.zeros_like(azimuth)
    jumps[1:] = -2 * math.pi * np.rint(np.diff(azimuth) / (2 * math.pi))
    jumps[firsts] = 0
    turns = np.cumsum(jumps)
    return azimuth + turns - np.repeat(turns[firsts], counts)


def medians(values: np.ndarray, firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The median (the lower of the middle two) of each run of ``values`` (int64)."""
    run = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    ordered = np.sort((run << 32) + np.clip(values, -(1 << 31), (1 << 31) - 1))  # runs apart, each in order
    return ordered[firsts + (counts - 1) // 2] - (np.arange(len(counts), dtype=np.int64) << 32)


def signed_byte(values: np.ndarray) -> np.ndarray:
    """Bytes (int64, any integers taken modulo 256) as signed values from -128 to 127."""
    return ((values + 128) & 255) - 128


def entropy(values: np.ndarray) -> float:
    """Order-0 entropy of uint8 ``values``, bits in all."""
    counts = np.bincount(values, minlength=256)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts / max(1, len(values)))).sum())


def differences(values: np.ndarray, firsts: np.ndarray) -> np.ndarray:
    """Each value minus the one before it, and 0 at the first value of every run."""
    deltas = np.empty_like(values)
    deltas[0] = 0
    np.subtract(values[1:], values[:-1], out=deltas[1:])
    deltas[firsts] = 0
    return deltas


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
