"""The synthetic LiDAR's per-ray arithmetic, compiled by numba (data/synthetic.py says what is computed).

numpy made a pass and a temporary per operation over the 128,000 rays of a sweep: 45–57 ms a frame on this
machine, as much CPU as encoding the frame, spent in the producer beside the streamer (and, in every
benchmark with a browser, beside Chromium). These loops take the same arithmetic a ray at a time. The
random numbers stay numpy's (the same generator, drawn in the same order), so a seed still gives the same
frames.

Arrays are (azimuth column, beam), as in data/synthetic.py; ``t``, ``refl`` and ``cos`` are the nearest hit
so far per ray, updated in place.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def ground(ground_t, ground_x, ground_y, ground_cos, ox, oy, asphalt, concrete, paint,  # type: ignore[no-untyped-def]
           t, refl, cos):
    """Every ray's ground hit seen from (ox, oy): asphalt on the road, concrete beyond, lane paint (the
    dashed centre line and the road's edges)."""
    columns, beams = t.shape
    for i in range(columns):
        for j in range(beams):
            gx = ox + ground_x[i, j]
            gy = oy + ground_y[i, j]
            r = asphalt if abs(gy) < 5.7 else concrete
            if (abs(gy - 0.2) < 0.08 and gx % 6.0 < 3.0) or abs(abs(gy) - 5.5) < 0.1:
                r = paint
            t[i, j] = ground_t[i, j]
            refl[i, j] = r
            cos[i, j] = ground_cos[i, j]


@njit(cache=True)
def columns(ox, oy, xs, ys, n):  # type: ignore[no-untyped-def]
    """The azimuth columns (of ``n``; column k looks at azimuth pi - k × 2pi/n) that the points (xs, ys) cover
    seen from (ox, oy), with a column's margin: (first, stop, first2, stop2), the second range empty unless
    the columns wrap around the ±180° seam."""
    centre = math.atan2(ys[0] - oy, xs[0] - ox)
    low, high = math.inf, -math.inf
    for p in range(len(xs)):
        rel = (math.atan2(ys[p] - oy, xs[p] - ox) - centre + math.pi) % (2 * math.pi) - math.pi
        low, high = min(low, rel), max(high, rel)
    step = 2 * math.pi / n
    k0 = int(math.floor((math.pi - (centre + high)) / step)) - 1
    k1 = int(math.ceil((math.pi - (centre + low)) / step)) + 2
    if k1 - k0 >= n:
        return 0, n, 0, 0
    if k0 < 0:
        return (0, k1, n + k0, n) if k1 > 0 else (n + k0, n + k1, 0, 0)
    if k1 > n:
        return k0, n, 0, k1 - n
    return k0, k1, 0, 0


@njit(cache=True)
def _prism_column(i, h_near, h_far, face_cos, zlo, zhi, reflectance, tan_el, cos_el, sin_el,  # type: ignore[no-untyped-def]
                  t, refl, cos):
    """Column ``i``'s rays against a vertical prism its horizontal ray enters at ``h_near`` and leaves at
    ``h_far`` (metres, horizontal): its side between zlo and zhi, or its roof for downward rays that clear
    the side."""
    if not (h_far > h_near and h_near > 0):
        return
    for j in range(t.shape[1]):
        z_near = h_near * tan_el[j]
        if zlo <= z_near <= zhi:
            h = h_near
            c = face_cos * cos_el[j]
        elif z_near > zhi and tan_el[j] < 0 and zhi / tan_el[j] <= h_far:
            h = zhi / tan_el[j]
            c = -sin_el[j]
        else:
            continue
        hit = h / cos_el[j]
        if hit < t[i, j]:
            t[i, j] = hit
            refl[i, j] = reflectance
            cos[i, j] = c


@njit(cache=True)
def box(first, stop, lo, hi, origin, hdir, hinv, reflectance, tan_el, cos_el, sin_el,  # type: ignore[no-untyped-def]
        t, refl, cos):
    """Columns ``first`` to ``stop`` against an axis-aligned box (slabs in x and y, then the prism)."""
    for i in range(first, stop):
        tx1 = (lo[0] - origin[0]) * hinv[i, 0]
        tx2 = (hi[0] - origin[0]) * hinv[i, 0]
        ty1 = (lo[1] - origin[1]) * hinv[i, 1]
        ty2 = (hi[1] - origin[1]) * hinv[i, 1]
        enter_x, enter_y = np.fmin(tx1, tx2), np.fmin(ty1, ty2)  # fmin: the other value where one is NaN
        if math.isnan(enter_x) or math.isnan(enter_y):  # a ray along a face's plane: 0 × inf twice
            continue
        h_near = max(enter_x, enter_y)
        h_far = min(np.fmax(tx1, tx2), np.fmax(ty1, ty2))
        face = abs(hdir[i, 1]) if enter_y > enter_x else abs(hdir[i, 0])
        _prism_column(i, h_near, h_far, face, lo[2], hi[2], reflectance, tan_el, cos_el, sin_el, t, refl, cos)


@njit(cache=True)
def pole(first, stop, ox, oy, radius, zlo, zhi, reflectance, hdir, tan_el, cos_el,  # type: ignore[no-untyped-def]
         sin_el, t, refl, cos):
    """Columns ``first`` to ``stop`` against a vertical cylinder; (ox, oy) is the sensor less its axis."""
    for i in range(first, stop):
        dx, dy = hdir[i, 0], hdir[i, 1]
        b = ox * dx + oy * dy
        disc = b * b - (ox * ox + oy * oy - radius * radius)
        root = math.sqrt(max(disc, 0.0))
        h_near = -b - root if disc > 0 else -1.0
        nx, ny = (ox + h_near * dx) / radius, (oy + h_near * dy) / radius
        _prism_column(i, h_near, -b + root, abs(nx * dx + ny * dy), zlo, zhi, reflectance, tan_el, cos_el, sin_el,
                      t, refl, cos)


@njit(cache=True)
def tree(first, stop, dirs, oc, oc_squared, radius, gaps, t, hit_t):  # type: ignore[no-untyped-def]
    """Columns ``first`` to ``stop`` against a sphere of foliage (``oc``: the sensor less its centre): where a
    ray meets it before its nearest hit and passes no gap (``gaps`` > 0.35), its range into ``hit_t`` (else
    NaN; both ``gaps`` and ``hit_t`` are the columns' own, from 0). True if any ray did."""
    any_hit = False
    for i in range(first, stop):
        for j in range(t.shape[1]):
            hit_t[i - first, j] = math.nan
            bq = dirs[i, j, 0] * oc[0] + dirs[i, j, 1] * oc[1] + dirs[i, j, 2] * oc[2]
            disc = bq * bq - (oc_squared - radius * radius)
            if disc > 0:
                hit = -bq - math.sqrt(disc)
                if hit > 0 and hit < t[i, j] and gaps[i - first, j] > 0.35:
                    hit_t[i - first, j] = hit
                    any_hit = True
    return any_hit


@njit(cache=True)
def foliage(first, hit_t, reflectance, cos_values, jitter_values, t, refl, cos, jitter):  # type: ignore[no-untyped-def]
    """Apply a tree's hits (``tree``): range, reflectance, incidence and depth jitter, per ray hit."""
    for i in range(hit_t.shape[0]):
        for j in range(hit_t.shape[1]):
            if not math.isnan(hit_t[i, j]):
                t[first + i, j] = hit_t[i, j]
                refl[first + i, j] = reflectance
                cos[first + i, j] = cos_values[i, j]
                jitter[first + i, j] = jitter_values[i, j]


@njit(cache=True)
def points(valid, t, jitter, refl, cos, dx, dy, dz, range_noise, intensity_noise):  # type: ignore[no-untyped-def]
    """The valid rays' points ring by ring (beam, then column), as KITTI's files store them: x, y, z at the
    hit's range plus jitter and noise, and intensity (reflectance × incidence, fading with range, plus
    noise, clipped to 0..1). The noise arrays hold one value a point, in that order."""
    columns, beams = valid.shape
    out = np.empty((len(range_noise), 4), dtype=np.float32)
    at = np.zeros(beams, dtype=np.int64)  # where each ring's points start in ``out``, then its next point
    for i in range(columns):
        for j in range(beams):
            at[j] += valid[i, j]
    at[1:] = np.cumsum(at)[:-1]
    at[0] = 0
    for i in range(columns):  # the arrays' own order (column, beam): each ring's points are written in turn
        for j in range(beams):
            if not valid[i, j]:
                continue
            k = at[j]
            at[j] = k + 1
            hit = t[i, j]
            r = hit + jitter[i, j] + range_noise[k]
            out[k, 0] = dx[i, j] * r
            out[k, 1] = dy[i, j] * r
            out[k, 2] = dz[i, j] * r
            value = refl[i, j] * (0.35 + 0.65 * abs(cos[i, j])) * math.exp(hit / -250.0) + intensity_noise[k]
            out[k, 3] = min(max(value, 0.0), 1.0)
    return out
