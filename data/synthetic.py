"""Synthetic 64-beam LiDAR: a ray-cast procedural street, deterministic for a given seed.

The sensor (an HDL-64E-like model: 64 beams at the HDL-64E's elevations, 2,000 azimuth
steps) drives along a street that repeats every ``STREET_LENGTH`` metres, past buildings,
parked cars, poles and trees, while other cars drive the opposite way. Each ray is
intersected with every nearby object (only within the azimuth columns the object covers),
then range noise, dropouts and an intensity model (material reflectance × incidence angle)
are applied. Points are in the sensor frame (KITTI convention: x forward, y left, z up) and
ordered ring by ring (beam, then azimuth column), as KITTI's Velodyne files store them. The per-ray
arithmetic is compiled (data/synthetic_kernels.py); the random numbers are numpy's.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .source import Frame, FrameSource

logger = logging.getLogger(__name__)


def _kernels() -> ModuleType:
    """data/synthetic_kernels.py, imported with the first frame: numba takes a fraction of a second to import,
    which the streamer's own process (it makes the source to describe it; the producer renders it) need not
    pay."""
    from . import synthetic_kernels

    return synthetic_kernels


SENSOR_HEIGHT = 1.73
STREET_LENGTH = 300.0
MAX_RANGE = 120.0
AZIMUTH_STEPS = 2000
ELEVATIONS_DEG = np.concatenate([np.linspace(2.0, -8.33, 32), np.linspace(-8.83, -24.33, 32)])

# Material reflectances (0..1)
ASPHALT, CONCRETE, LANE_PAINT, FACADE, CAR, METAL, FOLIAGE = 0.12, 0.3, 0.85, 0.45, 0.6, 0.75, 0.25


@dataclass(frozen=True)
class SyntheticOptions:
    """Parameters of the synthetic scene."""

    seed: int = 1
    """Scene layout and noise seed: same seed, same frames."""
    fps: float = 10.0
    """Sweeps per second (sets how far things move between frames)."""
    speed: float = 6.0
    """Sensor speed along the street, m/s."""
    frames_per_pass: int | None = None
    """Frames in one pass; default: one lap of the street."""
    azimuth_steps: int = AZIMUTH_STEPS
    """Columns per sweep (points ≈ 64 × this, minus sky and dropouts)."""


@dataclass(frozen=True)
class _Boxes:
    lo: np.ndarray  # K × 3
    hi: np.ndarray  # K × 3
    reflectance: np.ndarray  # K


@dataclass(frozen=True)
class _Scene:
    buildings: _Boxes
    parked: _Boxes
    poles: np.ndarray  # K × 3: x, y, radius (height fixed)
    trees: np.ndarray  # K × 4: x, y, z, radius
    moving_x0: np.ndarray  # oncoming cars' x at t = 0


def _build_scene(rng: np.random.Generator) -> _Scene:
    lo, hi, refl = [], [], []
    for side in (-1.0, 1.0):
        x = 0.0
        while x < STREET_LENGTH - 8:
            length = min(rng.uniform(8, 30), STREET_LENGTH - x - 2)
            depth = rng.uniform(8, 15)
            near = rng.uniform(10.0, 12.0)
            y0, y1 = sorted((side * near, side * (near + depth)))
            lo.append((x, y0, -SENSOR_HEIGHT))
            hi.append((x + length, y1, -SENSOR_HEIGHT + rng.uniform(5, 25)))
            refl.append(FACADE * rng.uniform(0.6, 1.4))
            x += length + rng.uniform(1.5, 8)
    buildings = _Boxes(np.array(lo), np.array(hi), np.array(refl))

    lo, hi, refl = [], [], []
    for side in (-1.0, 1.0):
        x = rng.uniform(0, 5)
        while x < STREET_LENGTH - 6:
            if rng.random() < 0.7:
                length, width = rng.uniform(3.8, 5.0), rng.uniform(1.7, 2.0)
                yc = side * 4.8
                lo.append((x, yc - width / 2, -SENSOR_HEIGHT + 0.25))
                hi.append((x + length, yc + width / 2, -SENSOR_HEIGHT + rng.uniform(1.4, 1.9)))
                refl.append(CAR * rng.uniform(0.3, 1.5))
                x += length
            x += rng.uniform(0.8, 6)
    parked = _Boxes(np.array(lo), np.array(hi), np.array(refl))

    pole_x = np.arange(12.5, STREET_LENGTH, 25.0)
    poles = np.concatenate([np.stack([pole_x, np.full_like(pole_x, s * 7.5), np.full_like(pole_x, 0.15)], 1)
                            for s in (-1.0, 1.0)])
    tree_x = np.arange(5.0, STREET_LENGTH, 18.0) + rng.uniform(-3, 3, size=int(np.ceil((STREET_LENGTH - 5) / 18)))
    trees = np.concatenate([np.stack([tree_x, np.full_like(tree_x, s * 8.5),
                                      rng.uniform(2.5, 4.0, tree_x.size), rng.uniform(1.2, 2.4, tree_x.size)], 1)
                            for s in (-1.0, 1.0)])
    moving_x0 = np.sort(rng.uniform(0, STREET_LENGTH, 6))
    return _Scene(buildings, parked, poles, trees, moving_x0)


class SyntheticSource(FrameSource):
    """Endless synthetic street; one pass is one lap unless ``frames_per_pass`` is set.

    Arrays are laid out column-major, (azimuth column, beam), so the columns an object covers
    are a contiguous slice (two at the ±180° seam) and every update is an in-place view.
    """

    def __init__(self, options: SyntheticOptions = SyntheticOptions()) -> None:
        if not options.fps > 0 or options.azimuth_steps < 16:
            raise ValueError("synthetic source needs fps > 0 and at least 16 azimuth steps")
        self.options = options
        self.native_fps = options.fps
        self._scene = _build_scene(np.random.default_rng(options.seed))
        az = np.linspace(np.pi, -np.pi, options.azimuth_steps, endpoint=False)
        el = np.radians(ELEVATIONS_DEG)
        # ray directions: columns × beams × 3
        self._dirs = np.stack(
            [np.cos(az)[:, None] * np.cos(el)[None, :],
             np.sin(az)[:, None] * np.cos(el)[None, :],
             np.broadcast_to(np.sin(el)[None, :], (az.size, el.size))], axis=-1)
        self._dir_planes = [np.ascontiguousarray(self._dirs[..., axis]) for axis in range(3)]
        self._hdir = np.stack([np.cos(az), np.sin(az)], axis=-1)  # horizontal direction per column
        with np.errstate(divide="ignore"):
            self._hinv = 1.0 / self._hdir
        self._tan_el, self._cos_el, self._sin_el = np.tan(el), np.cos(el), np.sin(el)
        # ground: the sensor height never changes, so where each ray meets the ground is fixed
        dz = self._dirs[..., 2]
        self._ground_t = np.full(dz.shape, np.inf)
        self._ground_t[dz < 0] = -SENSOR_HEIGHT / dz[dz < 0]
        self._ground_t[self._ground_t > MAX_RANGE] = np.inf
        finite_t = np.where(np.isfinite(self._ground_t), self._ground_t, 0.0)
        self._ground_x = finite_t * self._dirs[..., 0]
        self._ground_y = finite_t * self._dirs[..., 1]
        self._ground_cos = np.abs(dz)
        lap = int(round(STREET_LENGTH / (options.speed / options.fps)))
        self._count = options.frames_per_pass or lap
        self.description = f"synthetic 64-beam street (seed {options.seed})"

    def __len__(self) -> int:
        return self._count

    # The scene and the ray tables are 10 MB, rebuilt deterministically from the options in a few
    # milliseconds: the producer process gets the options, not the arrays. (Shipping the arrays through
    # the spawn pipe also meant that a child dying at start left the parent blocked on a full pipe.)
    def __getstate__(self) -> dict[str, SyntheticOptions]:
        return {"options": self.options}

    def __setstate__(self, state: dict[str, SyntheticOptions]) -> None:
        self.__init__(state["options"])  # type: ignore[misc]

    def frames(self) -> Iterator[Frame]:
        for index in range(self._count):
            yield self.frame(index)

    # ----------------------------------------------------------------- ray casting
    def frame(self, index: int) -> Frame:
        """Render sweep ``index`` (a pure function of seed and index)."""
        t = index / self.options.fps
        origin = np.array([(self.options.speed * t) % STREET_LENGTH, -1.5, 0.0])
        rng = np.random.default_rng((self.options.seed, index))
        shape = self._dirs.shape[:2]
        kernels = _kernels()
        hits = _Hits(np.empty(shape), np.empty(shape), np.empty(shape), np.zeros(shape))
        kernels.ground(self._ground_t, self._ground_x, self._ground_y, self._ground_cos, origin[0], origin[1],
                       ASPHALT, CONCRETE, LANE_PAINT, hits.t, hits.refl, hits.cos)

        s = self._scene
        moving = s.moving_x0 - 9.0 * t
        moving_lo = np.stack([moving, np.full_like(moving, 1.0), np.full_like(moving, -SENSOR_HEIGHT + 0.25)], 1)
        moving_hi = moving_lo + np.array([4.5, 1.8, 1.45])
        self._cast_boxes(origin, s.buildings.lo, s.buildings.hi, s.buildings.reflectance, hits)
        self._cast_boxes(origin, s.parked.lo, s.parked.hi, s.parked.reflectance, hits)
        self._cast_boxes(origin, moving_lo, moving_hi, np.full(len(moving), CAR), hits)
        self._cast_poles(origin, s.poles, hits)
        self._cast_trees(origin, s.trees, hits, rng)

        # noise, dropouts, intensity; points ring by ring (beam, then azimuth column), as KITTI's files store
        # them: a run of points is then a stretch of a ring, which a partial frame needs (docs/design.md)
        valid = (hits.t < MAX_RANGE) & (rng.random(shape, dtype=np.float32) > 0.03)
        count = int(np.count_nonzero(valid))
        range_noise = 0.02 * rng.standard_normal(count, dtype=np.float32)
        intensity_noise = 0.02 * rng.standard_normal(count, dtype=np.float32)
        out = kernels.points(valid, hits.t, hits.jitter, hits.refl, hits.cos, *self._dir_planes, range_noise,
                             intensity_noise)
        return Frame(index, t, out)

    def _column_slices(self, origin: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> list[slice]:
        """Azimuth columns covered by the points (xs, ys) seen from origin: one slice, two at the seam."""
        kernels = _kernels()
        first, stop, first2, stop2 = kernels.columns(origin[0], origin[1], xs, ys, self.options.azimuth_steps)
        return [slice(first, stop)] if first2 == stop2 else [slice(first, stop), slice(first2, stop2)]

    def _nearest_image(self, x: np.ndarray, origin: np.ndarray) -> np.ndarray:
        return x + STREET_LENGTH * np.round((origin[0] - x) / STREET_LENGTH)

    def _cast_boxes(self, origin: np.ndarray, lo: np.ndarray, hi: np.ndarray, reflectance: np.ndarray,
                    hits: _Hits) -> None:
        kernels = _kernels()
        shift = self._nearest_image(lo[:, 0], origin) - lo[:, 0]
        lo = lo.copy()
        hi = hi.copy()
        lo[:, 0] += shift
        hi[:, 0] += shift
        near = np.maximum(lo[:, 0] - origin[0], origin[0] - hi[:, 0]) < MAX_RANGE
        for b in np.flatnonzero(near):
            corners_x = np.array([lo[b, 0], lo[b, 0], hi[b, 0], hi[b, 0]])
            corners_y = np.array([lo[b, 1], hi[b, 1], lo[b, 1], hi[b, 1]])
            for cols in self._column_slices(origin, corners_x, corners_y):
                kernels.box(cols.start, cols.stop, lo[b], hi[b], origin, self._hdir, self._hinv, float(reflectance[b]),
                            self._tan_el, self._cos_el, self._sin_el, hits.t, hits.refl, hits.cos)

    def _cast_poles(self, origin: np.ndarray, poles: np.ndarray, hits: _Hits) -> None:
        kernels = _kernels()
        xs = self._nearest_image(poles[:, 0], origin)
        for x, y, radius in zip(xs, poles[:, 1], poles[:, 2]):
            if abs(x - origin[0]) > MAX_RANGE:
                continue
            box_x = np.array([x - radius, x + radius, x - radius, x + radius])
            box_y = np.array([y - radius, y + radius, y + radius, y - radius])
            for cols in self._column_slices(origin, box_x, box_y):
                kernels.pole(cols.start, cols.stop, origin[0] - x, origin[1] - y, radius, -SENSOR_HEIGHT,
                             6.0 - SENSOR_HEIGHT, METAL, self._hdir, self._tan_el, self._cos_el, self._sin_el,
                             hits.t, hits.refl, hits.cos)

    def _cast_trees(self, origin: np.ndarray, trees: np.ndarray, hits: _Hits, rng: np.random.Generator) -> None:
        kernels = _kernels()
        xs = self._nearest_image(trees[:, 0], origin)
        for x, y, z, radius in zip(xs, trees[:, 1], trees[:, 2], trees[:, 3]):
            if abs(x - origin[0]) > MAX_RANGE:
                continue
            box_x = np.array([x - radius, x + radius, x - radius, x + radius])
            box_y = np.array([y - radius, y + radius, y + radius, y - radius])
            oc = origin - np.array([x, y, z])
            for cols in self._column_slices(origin, box_x, box_y):
                # foliage: rays pass through gaps, hits scatter in depth
                gaps = rng.random((cols.stop - cols.start, hits.t.shape[1]), dtype=np.float32)
                hit_t = np.empty(gaps.shape)
                if not kernels.tree(cols.start, cols.stop, self._dirs, oc, float(oc @ oc), radius, gaps, hits.t, hit_t):
                    continue
                kernels.foliage(cols.start, hit_t, FOLIAGE, rng.uniform(0.3, 1.0, gaps.shape),
                                rng.uniform(0.0, 0.6 * radius, gaps.shape), hits.t, hits.refl, hits.cos, hits.jitter)


@dataclass(frozen=True)
class _Hits:
    """Per-ray nearest hit so far (columns × beams views, updated in place)."""

    t: np.ndarray
    refl: np.ndarray
    cos: np.ndarray
    jitter: np.ndarray
