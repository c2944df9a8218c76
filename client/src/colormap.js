// The colour map and its value range: turbo (a perceptual rainbow, from d3-scale-chromatic) as a lookup table
// the shader samples, and the range of values it spans, fitted to each frame unless the user fixes it.
import { interpolateTurbo } from 'd3-scale-chromatic';

export const LUT_SIZE = 256;
/** Where on turbo the lowest value starts: turbo's own start is near black, which a dark background hides. */
const TURBO_START = 0.05;

/** The turbo map as LUT_SIZE RGBA bytes, lowest value first. */
export function turboLut(size = LUT_SIZE) {
  const lut = new Uint8Array(size * 4);
  for (let i = 0; i < size; i++) {
    const colour = interpolateTurbo(TURBO_START + ((1 - TURBO_START) * i) / (size - 1));
    const rgb = /rgb\((\d+), (\d+), (\d+)\)/.exec(colour);
    if (!rgb) throw new Error(`unexpected colour from interpolateTurbo: ${colour}`);
    lut.set([Number(rgb[1]), Number(rgb[2]), Number(rgb[3]), 255], i * 4);
  }
  return lut;
}

/** The value a colour mode maps (intensity, height z, or range) of the point at ``o`` in an x, y, z, i buffer. */
const VALUE_OF = {
  intensity: (b, o) => b[o + 3],
  source: (b, o) => b[o + 3], // intensity where the source has no colours
  height: (b, o) => b[o + 2],
  range: (b, o) => Math.hypot(b[o], b[o + 1], b[o + 2]),
};

const SAMPLES = 4096; // a frame's range is estimated from this many of its points
const LOW = 0.02; // the range spans these quantiles: a few stray points do not squash the colours of the rest
const HIGH = 0.98;

/**
 * The LOW..HIGH quantile range of ``mode``'s values over ``count`` points (x, y, z, intensity each) of which
 * those with negative intensity never arrived; null when none did.
 * @returns {[number, number]|null}
 */
export function valueRange(points, count, mode) {
  const value = VALUE_OF[mode] ?? VALUE_OF.intensity;
  const stride = Math.max(1, Math.floor(count / SAMPLES));
  const values = [];
  for (let i = 0; i < count; i += stride) {
    const o = i * 4;
    if (points[o + 3] >= 0) values.push(value(points, o));
  }
  if (!values.length) return null;
  const sorted = Float64Array.from(values).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  let lo = at(LOW);
  let hi = at(HIGH);
  if (!(hi - lo > 1e-6)) hi = lo + 1e-6; // a flat frame still maps to one colour, not to NaN
  return [lo, hi];
}

/**
 * The range the colours span: fitted to each frame (smoothed, so the colours do not flicker from one frame to
 * the next) or fixed by the user.
 */
export class ColourRange {
  constructor(smoothing = 0.25) {
    this.smoothing = smoothing;
    /** @type {[number, number]|null} */
    this.range = null;
    this.fixed = false;
  }

  /** A new frame: fit to it unless fixed. Returns whether the range changed. */
  fit(points, count, mode) {
    if (this.fixed) return false;
    const r = valueRange(points, count, mode);
    if (!r) return false;
    if (!this.range) this.range = r;
    else this.range = [0, 1].map((k) => this.range[k] + this.smoothing * (r[k] - this.range[k]));
    return true;
  }

  /** The colour mode changed: its values are of another kind, so fit anew (a fixed range is released). */
  reset() {
    this.range = null;
    this.fixed = false;
  }

  /** Fix the range to [lo, hi] (the user's), or to the current one when called with none. */
  fix(lo = this.range?.[0], hi = this.range?.[1]) {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) throw new RangeError(`bad colour range ${lo}..${hi}`);
    this.range = [lo, hi];
    this.fixed = true;
  }

  release() {
    this.fixed = false;
  }
}
