"""SPHERICAL payload: points quantised in the sensor's own coordinates, then predicted from the previous point.

A spinning LiDAR measures a range along a direction; in scan order the next point's direction is a small
step from the last one and its range is usually close. So each point is stored as range, azimuth and
elevation integers, and each integer as its difference from the previous point's (the chunk's first
values are in the header), zigzag-coded into byte planes. Intensity (uint8) is its difference from the
previous point's, modulo 256.

Quantisation, for a step ``s``: range to multiples of ``s``; both angles to multiples of ``a = 2π / turn``
with ``turn = ceil(2π · r_max / s)``, so that at the chunk's largest range ``r_max`` an angle step is at
most ``s`` of arc. Every decoded point is then within ``s·√3/2`` of the original (range error ``s/2``,
two orthogonal arc errors of at most ``s/2``): the same bound as rounding x, y and z to a grid of ``s``.

Decoding (identical in client/src/protocol.js)::

    r = R·s, az = A·a, el = E·a
    x = (r·cos el)·cos az, y = (r·cos el)·sin az, z = r·sin el
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import byte_planes

MAX_TURN = 1 << 31
"""Largest number of angle steps per turn (keeps angles and their differences within int32)."""
MAX_RANGE_STEPS = (1 << 31) - 1
MIN_TURN = 4


@dataclass(frozen=True)
class ChunkPlanes:
    """The uncompressed payload of one chunk and the header fields that go with it."""

    raw: bytes
    turn: int
    """Angle steps per turn."""
    widths: tuple[int, int, int]
    """Bytes per value of the range, azimuth and elevation differences."""
    bases: tuple[int, int, int]
    """The first point's range, azimuth and elevation integers."""


def raw_size(count: int, widths: tuple[int, int, int]) -> int:
    return count * (sum(widths) + 1)


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
        self.intensity = np.rint(np.clip(points[:, 3], 0.0, 1.0) * 255.0).astype(np.int64)

    def chunks(self, bounds: Sequence[tuple[int, int]]) -> list[ChunkPlanes]:
        """The payloads of consecutive runs of points (``bounds``: (start, stop) pairs, each starting where
        the previous one stopped), computed in one vectorised pass."""
        starts = np.array([start for start, _ in bounds])
        counts = np.array([stop - start for start, stop in bounds])
        whole = slice(bounds[0][0], bounds[-1][1])
        firsts = starts - starts[0]
        turns = np.maximum(MIN_TURN, np.ceil(2 * math.pi * np.maximum.reduceat(self.r[whole], firsts) / self.step))
        turns = turns.astype(np.int64)
        turn = np.repeat(turns, counts)
        angle = 2 * math.pi / turn
        azimuth = np.rint(self.azimuth[whole] / angle).astype(np.int64)
        elevation = np.rint(self.elevation[whole] / angle).astype(np.int64)
        streams = []
        for values, wrap in ((self.range[whole], False), (azimuth, True), (elevation, False)):
            deltas = differences(values, firsts)
            if wrap:  # the shorter way round: an angle and the same angle plus a turn decode alike
                half = turn // 2
                deltas = (deltas + half) % turn - half
            unsigned = byte_planes.zigzag(deltas)
            streams.append((unsigned, np.maximum.reduceat(unsigned, firsts)))
        intensity = differences(self.intensity[whole], firsts)
        intensity[firsts] = self.intensity[whole][firsts]
        intensity = (intensity & 0xFF).astype(np.uint8)
        out = []
        for k, (first, count) in enumerate(zip(firsts.tolist(), counts.tolist())):
            run = slice(first, first + count)
            widths = tuple(byte_planes.width_of(int(top[k])) for _, top in streams)
            raw = b"".join(byte_planes.split(unsigned[run], w) for (unsigned, _), w in zip(streams, widths))
            out.append(ChunkPlanes(raw + intensity[run].tobytes(), int(turns[k]), (widths[0], widths[1], widths[2]),
                                   (int(self.range[whole][first]), int(azimuth[first]), int(elevation[first]))))
        return out


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


def decode(raw: bytes, count: int, step: float, turn: int, widths: tuple[int, int, int],
           bases: tuple[int, int, int]) -> np.ndarray:
    """``count`` × 4 float32 points from an uncompressed payload (its size already checked)."""
    view = memoryview(raw)
    pos = 0
    integers = []
    for width, base in zip(widths, bases):
        unsigned = byte_planes.join(view[pos:pos + count * width], count, width)
        pos += count * width
        integers.append(base + np.cumsum(byte_planes.unzigzag(unsigned)))
    intensity = np.cumsum(np.frombuffer(raw, dtype=np.uint8, count=count, offset=pos), dtype=np.uint8)
    angle = 2 * math.pi / turn
    r = integers[0] * np.float64(step)
    azimuth = integers[1] * angle
    elevation = integers[2] * angle
    horizontal = r * np.cos(elevation)
    points = np.empty((count, 4), dtype=np.float32)
    points[:, 0] = horizontal * np.cos(azimuth)
    points[:, 1] = horizontal * np.sin(azimuth)
    points[:, 2] = r * np.sin(elevation)
    points[:, 3] = intensity / 255.0
    return points
