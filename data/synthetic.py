"""Synthetic 64-beam LiDAR: a ray-cast procedural street, deterministic for a given seed.

The sensor (an HDL-64E-like model: 64 beams at the HDL-64E's elevations, 2,000 azimuth
steps) drives along a street that repeats every ``STREET_LENGTH`` metres, past buildings,
parked cars, poles and trees, while other cars drive the opposite way. Each ray is
intersected with every nearby object (only within the azimuth columns the object covers),
then range noise, dropouts and an intensity model (material reflectance × incidence angle)
are applied. Points are in the sensor frame (KITTI convention: x forward, y left, z up) and
ordered ring by ring (beam, then azimuth column), as KITTI's Velodyne files store them.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .source import Frame, FrameSource

logger = logging.getLogger(__name__)

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
        best_t = self._ground_t.copy()
        gx = origin[0] + self._ground_x
        gy = origin[1] + self._ground_y
        refl = np.where(np.abs(gy) < 5.7, ASPHALT, CONCRETE)
        paint = ((np.abs(gy - 0.2) < 0.08) & ((gx % 6.0) < 3.0)) | (np.abs(np.abs(gy) - 5.5) < 0.1)
        refl[paint] = LANE_PAINT
        cos_inc = self._ground_cos.copy()
        jitter = np.zeros(shape)
        hits = _Hits(best_t, refl, cos_inc, jitter)

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
        valid = (best_t < MAX_RANGE) & (rng.random(shape, dtype=np.float32) > 0.03)
        ring_major = np.flatnonzero(valid.T)  # flat indices into (beam, column)
        idx = (ring_major % shape[0]) * shape[1] + ring_major // shape[0]  # the same rays, as (column, beam)
        t_hit = best_t.ravel()[idx]
        r = t_hit + jitter.ravel()[idx] + 0.02 * rng.standard_normal(idx.size, dtype=np.float32)
        out = np.empty((idx.size, 4), dtype=np.float32)
        for axis in range(3):
            out[:, axis] = self._dir_planes[axis].ravel()[idx] * r
        inten = refl.ravel()[idx] * (0.35 + 0.65 * np.abs(cos_inc.ravel()[idx])) * np.exp(t_hit / -250.0)
        inten += 0.02 * rng.standard_normal(idx.size, dtype=np.float32)
        out[:, 3] = np.clip(inten, 0.0, 1.0)
        return Frame(index, t, out)

    def _column_slices(self, origin: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> list[slice]:
        """Azimuth columns covered by the points (xs, ys) seen from origin: one slice, two at the seam."""
        ang = np.arctan2(ys - origin[1], xs - origin[0])
        centre = ang[0]
        rel = (ang - centre + np.pi) % (2 * np.pi) - np.pi
        a0, a1 = centre + rel.min(), centre + rel.max()
        n = self.options.azimuth_steps
        step = 2 * np.pi / n
        # column k has azimuth pi - k*step
        k0 = int(np.floor((np.pi - a1) / step)) - 1
        k1 = int(np.ceil((np.pi - a0) / step)) + 2
        if k1 - k0 >= n:
            return [slice(0, n)]
        if k0 < 0:
            return [slice(0, k1), slice(n + k0, n)] if k1 > 0 else [slice(n + k0, n + k1)]
        if k1 > n:
            return [slice(k0, n), slice(0, k1 - n)]
        return [slice(k0, k1)]

    def _nearest_image(self, x: np.ndarray, origin: np.ndarray) -> np.ndarray:
        return x + STREET_LENGTH * np.round((origin[0] - x) / STREET_LENGTH)

    def _cast_prism(self, cols: slice, h_near: np.ndarray, h_far: np.ndarray, face_cos: np.ndarray,
                    zlo: float, zhi: float, reflectance: float, hits: _Hits) -> None:
        """Intersect the rays of ``cols`` with a vertical prism whose footprint each column's
        horizontal ray enters at range h_near and leaves at h_far (metres, horizontal)."""
        ok = (h_far > h_near) & (h_near > 0)
        if not ok.any():
            return
        tan_el = self._tan_el[None, :]
        z_near = h_near[:, None] * tan_el
        side = (z_near >= zlo) & (z_near <= zhi) & ok[:, None]
        h = np.where(side, h_near[:, None], np.inf)
        cos = face_cos[:, None] * self._cos_el[None, :]
        # downward rays that clear the side land on the roof
        with np.errstate(divide="ignore", invalid="ignore"):
            h_top = zhi / tan_el
        top = ~side & ok[:, None] & (z_near > zhi) & (tan_el < 0) & (h_top <= h_far[:, None])
        if top.any():
            np.copyto(h, np.broadcast_to(h_top, h.shape), where=top)
            np.copyto(cos, np.broadcast_to(-self._sin_el[None, :], cos.shape), where=top)
        t = h / self._cos_el[None, :]
        bt = hits.t[cols]
        hit = t < bt
        np.copyto(bt, t, where=hit)
        np.copyto(hits.refl[cols], reflectance, where=hit)
        np.copyto(hits.cos[cols], cos, where=hit)

    def _cast_boxes(self, origin: np.ndarray, lo: np.ndarray, hi: np.ndarray, reflectance: np.ndarray,
                    hits: _Hits) -> None:
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
                inv = self._hinv[cols]
                with np.errstate(invalid="ignore"):
                    t1 = (lo[b, :2] - origin[:2]) * inv
                    t2 = (hi[b, :2] - origin[:2]) * inv
                tmin, tmax = np.fmin(t1, t2), np.fmax(t1, t2)
                axis = tmin.argmax(axis=1)
                face_cos = np.abs(np.take_along_axis(self._hdir[cols], axis[:, None], axis=1)[:, 0])
                self._cast_prism(cols, tmin.max(axis=1), tmax.min(axis=1), face_cos, lo[b, 2], hi[b, 2],
                                 float(reflectance[b]), hits)

    def _cast_poles(self, origin: np.ndarray, poles: np.ndarray, hits: _Hits) -> None:
        xs = self._nearest_image(poles[:, 0], origin)
        for x, y, radius in zip(xs, poles[:, 1], poles[:, 2]):
            if abs(x - origin[0]) > MAX_RANGE:
                continue
            box_x = np.array([x - radius, x + radius, x - radius, x + radius])
            box_y = np.array([y - radius, y + radius, y + radius, y - radius])
            for cols in self._column_slices(origin, box_x, box_y):
                d = self._hdir[cols]
                ox, oy = origin[0] - x, origin[1] - y
                b = ox * d[:, 0] + oy * d[:, 1]
                disc = b * b - (ox * ox + oy * oy - radius * radius)
                root = np.sqrt(np.maximum(disc, 0.0))
                h_near = np.where(disc > 0, -b - root, -1.0)
                nx, ny = (ox + h_near * d[:, 0]) / radius, (oy + h_near * d[:, 1]) / radius
                face_cos = np.abs(nx * d[:, 0] + ny * d[:, 1])
                self._cast_prism(cols, h_near, -b + root, face_cos, -SENSOR_HEIGHT, 6.0 - SENSOR_HEIGHT, METAL, hits)

    def _cast_trees(self, origin: np.ndarray, trees: np.ndarray, hits: _Hits, rng: np.random.Generator) -> None:
        xs = self._nearest_image(trees[:, 0], origin)
        for x, y, z, radius in zip(xs, trees[:, 1], trees[:, 2], trees[:, 3]):
            if abs(x - origin[0]) > MAX_RANGE:
                continue
            box_x = np.array([x - radius, x + radius, x - radius, x + radius])
            box_y = np.array([y - radius, y + radius, y + radius, y - radius])
            oc = origin - np.array([x, y, z])
            for cols in self._column_slices(origin, box_x, box_y):
                d = self._dirs[cols]
                bq = d @ oc
                disc = bq * bq - (oc @ oc - radius * radius)
                with np.errstate(invalid="ignore"):
                    t = -bq - np.sqrt(disc)
                bt = hits.t[cols]
                # foliage: rays pass through gaps, hits scatter in depth
                hit = (disc > 0) & (t > 0) & (t < bt) & (rng.random(t.shape, dtype=np.float32) > 0.35)
                if not hit.any():
                    continue
                np.copyto(bt, t, where=hit)
                np.copyto(hits.refl[cols], FOLIAGE, where=hit)
                np.copyto(hits.cos[cols], rng.uniform(0.3, 1.0, t.shape), where=hit)
                np.copyto(hits.jitter[cols], rng.uniform(0.0, 0.6 * radius, t.shape), where=hit)


@dataclass(frozen=True)
class _Hits:
    """Per-ray nearest hit so far (columns × beams views, updated in place)."""

    t: np.ndarray
    refl: np.ndarray
    cos: np.ndarray
    jitter: np.ndarray
