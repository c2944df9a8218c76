// Which azimuth sectors of the scene a frame's points cover: the benchmark's measure of a partial frame
// (a prefix of the progressive send order should cover the whole field of view, sparser).
// headless/coverage.py computes the same for the Python viewer.

export const SECTORS = 36; // 10 degrees each
const STRIDE = 16; // every 16th point is plenty to find the sectors a frame reaches

/** Bitmask (as an array of booleans) of the sectors that points which arrived (intensity >= 0) fall in. */
export function sectorsOf(points, count) {
  const hit = new Array(SECTORS).fill(false);
  for (let i = 0; i < count; i += STRIDE) {
    const o = i * 4;
    if (!(points[o + 3] >= 0)) continue; // never arrived
    const s = Math.floor(((Math.atan2(points[o + 1], points[o]) + Math.PI) / (2 * Math.PI)) * SECTORS);
    hit[Math.min(SECTORS - 1, Math.max(0, s))] = true;
  }
  return hit;
}

/** Tracks the sectors any frame reached so far; ``coverage`` is a frame's share of them, in %. */
export class SectorCoverage {
  constructor() {
    this.seen = new Array(SECTORS).fill(false);
  }

  coverage(points, count) {
    const hit = sectorsOf(points, count);
    let seen = 0;
    let got = 0;
    for (let s = 0; s < SECTORS; s++) {
      this.seen[s] ||= hit[s];
      seen += this.seen[s] ? 1 : 0;
      got += hit[s] ? 1 : 0;
    }
    return seen ? (100 * got) / seen : 0;
  }
}
