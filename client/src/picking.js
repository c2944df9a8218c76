// Picking a point under the cursor: the drawn points are projected to the screen and the nearest to the click,
// within a few pixels, wins (of two as near, the one nearer the camera). Screen-space, like the points
// themselves, which are drawn a fixed number of pixels wide whatever their distance.

/**
 * The index of the point of ``points`` (x, y, z, intensity each; negative intensity: not arrived) drawn nearest
 * to pixel (px, py), or -1 when none is within ``radius`` pixels.
 * @param {Float32Array} points
 * @param {number} count
 * @param {ArrayLike<number>} m the model-view-projection matrix, column-major (three.js Matrix4.elements)
 * @param {number} width the canvas size in CSS pixels
 * @param {number} height
 * @param {number} px the click in CSS pixels from the canvas's top left
 * @param {number} py
 * @param {number} radius pixels
 */
export function pickPoint(points, count, m, width, height, px, py, radius = 6) {
  let best = -1;
  let bestD2 = radius * radius + 1e-9;
  let bestDepth = Infinity;
  for (let i = 0; i < count; i++) {
    const o = i * 4;
    if (!(points[o + 3] >= 0)) continue;
    const x = points[o];
    const y = points[o + 1];
    const z = points[o + 2];
    const w = m[3] * x + m[7] * y + m[11] * z + m[15];
    if (w <= 0) continue; // behind the camera
    const sx = ((m[0] * x + m[4] * y + m[8] * z + m[12]) / w + 1) * 0.5 * width;
    const sy = (1 - (m[1] * x + m[5] * y + m[9] * z + m[13]) / w) * 0.5 * height;
    const dx = sx - px;
    const dy = sy - py;
    const d2 = dx * dx + dy * dy;
    if (d2 < bestD2 || (d2 === bestD2 && w < bestDepth)) { // as near on screen: the nearer the camera wins
      best = i;
      bestD2 = d2;
      bestDepth = w;
    }
  }
  return best;
}

/**
 * What the viewer says about a picked point.
 * @returns {{x: number, y: number, z: number, range: number, intensity: number}}
 */
export function pointAt(points, index) {
  const o = index * 4;
  const [x, y, z, intensity] = [points[o], points[o + 1], points[o + 2], points[o + 3]];
  return { x, y, z, range: Math.hypot(x, y, z), intensity };
}

/** The distance between two picked points, metres. */
export function distance(a, b) {
  return Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);
}

/** Measurements: the last two points picked; a third pick starts a new pair. */
export class Measure {
  constructor() {
    /** @type {Array<ReturnType<typeof pointAt>>} */
    this.picked = [];
  }

  add(point) {
    if (this.picked.length >= 2) this.picked = [];
    this.picked.push(point);
  }

  clear() {
    this.picked = [];
  }

  /** The distance between the two picked points, or null before a second. */
  get distance() {
    return this.picked.length === 2 ? distance(this.picked[0], this.picked[1]) : null;
  }
}
