"""The SPHERICAL encoder's per-point arithmetic, compiled by numba: a frame's polar coordinates, and the
quantised residuals of runs of it, each run on its own core (runs are independent).

codec/spherical.py says what is computed and why; these loops compute it in one pass a point where numpy
made a dozen passes and temporaries (docs/design.md, "The point codec": the quantiser took longer than the
range coder). Imported only by the encoder (codec/spherical.py loads it when first needed).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import threads  # noqa: F401  (before the first parallel loop starts numba's threads)
from .spherical import LEVEL_DIVISOR, MIN_TURN

TWO_PI = 2 * math.pi
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@njit(cache=True, parallel=True)
def polar(points):  # type: ignore[no-untyped-def]
    """Range, azimuth and elevation (float64 each, computed in float64) of the x, y, z columns of ``points``
    (N × 3 or more, float32 or float64, any strides: no copy is made)."""
    n = len(points)
    r = np.empty(n)
    azimuth = np.empty(n)
    elevation = np.empty(n)
    for i in prange(n):
        x, y, z = np.float64(points[i, 0]), np.float64(points[i, 1]), np.float64(points[i, 2])
        horizontal = math.sqrt(x * x + y * y)  # no overflow below 1e150 m
        r[i] = math.sqrt(horizontal * horizontal + z * z)
        azimuth[i] = math.atan2(y, x)
        elevation[i] = math.atan2(z, horizontal)
    return r, azimuth, elevation


@njit(inline="always", cache=True)
def _level(turn, steps):  # type: ignore[no-untyped-def]
    """codec/spherical.py ``levels``: floor(log2(turn // (7 (R + 1)))), 0 below 1."""
    q = turn // (LEVEL_DIVISOR * (steps + 1))
    level = -1
    while q:
        level += 1
        q >>= 1
    return level if level > 0 else 0


@njit(cache=True, parallel=True)
def quantise_runs(r, ranges, azimuth, elevation, intensity, firsts, counts, step, differences,  # type: ignore[no-untyped-def]
                  turns, bases, azimuth_steps, d_range, d_azimuth, d_elevation, d_intensity):
    """For each run (``firsts``, ``counts``) of the points: its angle steps per turn (``turns``), its first
    point's range, azimuth and elevation integers (``bases``, runs × 3), its median azimuth difference
    (``azimuth_steps``) and every point's residuals (``d_range``, ``d_azimuth``, ``d_elevation``: 0 at the
    run's first point) and intensity (``d_intensity``: the byte, or its difference from the previous point's
    as a signed byte when ``differences``; the run's first as a signed byte then). All int64."""
    for run in prange(len(firsts)):
        first = firsts[run]
        count = counts[run]
        r_max = 0.0
        for i in range(first, first + count):
            r_max = max(r_max, r[i])
        turn = max(MIN_TURN, int(math.ceil(TWO_PI * r_max / step)))  # codec/spherical.py turn_for, compiled
        turns[run] = turn
        angle = TWO_PI / turn
        quantised_azimuth = np.empty(count, np.int64)
        quantised_elevation = np.empty(count, np.int64)
        levels = np.empty(count, np.int64)
        unwrap = 0.0  # turns added so far along the run, so that no azimuth difference exceeds half a turn
        for j in range(count):
            i = first + j
            level = _level(turn, ranges[i])
            unit = angle * 2.0 ** level
            if j > 0:
                unwrap -= TWO_PI * np.rint((azimuth[i] - azimuth[i - 1]) / TWO_PI)
            quantised_azimuth[j] = np.int64(np.rint((azimuth[i] + unwrap) / unit)) << level
            quantised_elevation[j] = np.int64(np.rint(elevation[i] / unit)) << level
            levels[j] = level
        differences_ = np.empty(count, np.int64)
        differences_[0] = 0
        for j in range(1, count):
            differences_[j] = quantised_azimuth[j] - quantised_azimuth[j - 1]
        ordered = np.sort(np.minimum(np.maximum(differences_, INT32_MIN), INT32_MAX))
        typical = ordered[(count - 1) // 2]  # the lower median
        azimuth_steps[run] = typical
        bases[run, 0] = ranges[first]
        bases[run, 1] = quantised_azimuth[0]
        bases[run, 2] = quantised_elevation[0]
        d_range[first] = d_azimuth[first] = d_elevation[first] = 0
        d_intensity[first] = ((intensity[first] + 128) & 255) - 128 if differences else intensity[first]
        for j in range(1, count):
            i = first + j
            shift = min(levels[j], levels[j - 1])
            d_range[i] = ranges[i] - ranges[i - 1]
            d_azimuth[i] = (differences_[j] >> shift) - (typical >> shift)
            d_elevation[i] = (quantised_elevation[j] - quantised_elevation[j - 1]) >> shift
            if differences:
                d_intensity[i] = ((intensity[i] - intensity[i - 1] + 128) & 255) - 128
            else:
                d_intensity[i] = intensity[i]
