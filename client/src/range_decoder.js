// The adaptive binary range decoder of SPHERICAL payloads: the decoder of codec/range_coding.py, decision for
// decision (docs/protocol.md, "The range coder"). Numbers stay below 2**32 and are handled as doubles, not
// with JavaScript's signed 32-bit bit operations. The coder's state lives in a Float64Array: V8 keeps its
// values unboxed, where variables or object fields holding values above 2**30 cost a heap number per
// decision (measured 2-3× slower).

const PROB_BITS = 12;
const PROB_ONE = 1 << PROB_BITS;
const PROB_INIT = PROB_ONE / 2;
/** A probability's first update moves it 1/2 of the way, then 1/4, 1/8, then 1/16 from then on. */
const RATE_MIN = 1;
const RATE_MAX = 4;
const TOP = 2 ** 24;
const RANGE_UNIT = 2 ** PROB_BITS;
/** Bit lengths of a value's magnitude: 0 (the value 0) to 34. */
const CLASSES = 35;
// where each kind of probability starts within a signed-value model (codec/range_coding.py)
const EQUAL = 0;
const ABOVE = 35;
const UP = 70;
const DOWN = 104;
const SIGN = 138;
const MANTISSA = 173;
const SIGNED_MODEL = 208;
/** Where the intensity's probabilities start: after the range, azimuth and elevation models. */
const INTENSITY_MODELS = 3 * SIGNED_MODEL;
const MODEL_SIZE = INTENSITY_MODELS + Math.max(256, SIGNED_MODEL);
/** Direct bits decoded in one step. */
const DIRECT_BATCH = 8;

const probs = new Uint16Array(MODEL_SIZE);
const rates = new Uint8Array(MODEL_SIZE);
const POW2 = Float64Array.from({ length: CLASSES + 1 }, (_, i) => 2 ** i);
const state = new Float64Array(2); // range, code
const cursor = new Int32Array(2); // bytes read, 1 once direct bits were out of range
let bytes = new Uint8Array(0);
/** The class (bit length of the magnitude) of the value signed() returned last. */
let decodedClass = 0;

function nextByte() {
  const pos = cursor[0];
  cursor[0] = pos + 1;
  return pos < bytes.length ? bytes[pos] : 0;
}

/** Bytes into the range and code until the range is at least TOP again. */
function refill() {
  while (state[0] < TOP) {
    state[0] *= 256;
    state[1] = state[1] * 256 + nextByte();
  }
}

/** One learnt decision with probability ``probs[at]`` of a 0. Kept small: V8 inlines it at every call. */
function bit(at) {
  const p = probs[at];
  const rate = rates[at];
  if (rate < RATE_MAX) rates[at] = rate + 1;
  const bound = Math.floor(state[0] / RANGE_UNIT) * p;
  if (state[1] < bound) {
    state[0] = bound;
    probs[at] = p + ((PROB_ONE - p) >> rate);
    if (bound < TOP) refill();
    return 0;
  }
  state[1] -= bound;
  state[0] -= bound;
  probs[at] = p - (p >> rate);
  if (state[0] < TOP) refill();
  return 1;
}

/** ``count`` direct bits, most significant first, up to DIRECT_BATCH at a time. */
function direct(count) {
  let value = 0;
  while (count > 0) {
    const batch = count > DIRECT_BATCH ? DIRECT_BATCH : count;
    count -= batch;
    const scale = POW2[batch];
    const range = Math.floor(state[0] / scale);
    const code = state[1];
    let v = Math.floor(code / range);
    if (v >= scale) { // only a corrupt payload gets here
      cursor[1] = 1;
      v = 0;
    }
    state[0] = range;
    state[1] = code - v * range;
    value = value * scale + v;
    refill();
  }
  return value;
}

/**
 * A signed value with the model at ``model``, given its predicted class ``kp``; sets decodedClass.
 *
 * This is the decoder's hot loop: each learnt decision is written out in place (the same eleven lines as
 * bit()), with the coder's state in local variables. Calls to bit() from here were not all inlined by V8
 * (its inlining budget), and that measured 1.4× slower for a whole frame.
 */
function signed(model, kp) {
  let range = state[0];
  let code = state[1];
  let p = 0;
  let rate = 0;
  let bound = 0;
  let other = 0;
  p = probs[model + EQUAL + kp];
  rate = rates[model + EQUAL + kp];
  if (rate < RATE_MAX) rates[model + EQUAL + kp] = rate + 1;
  bound = Math.floor(range / RANGE_UNIT) * p;
  if (code < bound) {
    range = bound;
    probs[model + EQUAL + kp] = p + ((PROB_ONE - p) >> rate);
    other = 0;
  } else {
    code -= bound;
    range -= bound;
    probs[model + EQUAL + kp] = p - (p >> rate);
    other = 1;
  }
  while (range < TOP) {
    range *= 256;
    code = code * 256 + nextByte();
  }
  let k = kp;
  if (other) {
    let above = kp === 0 ? 1 : 0;
    if (kp > 0 && kp < CLASSES - 1) {
      p = probs[model + ABOVE + kp];
      rate = rates[model + ABOVE + kp];
      if (rate < RATE_MAX) rates[model + ABOVE + kp] = rate + 1;
      bound = Math.floor(range / RANGE_UNIT) * p;
      if (code < bound) {
        range = bound;
        probs[model + ABOVE + kp] = p + ((PROB_ONE - p) >> rate);
        above = 0;
      } else {
        code -= bound;
        range -= bound;
        probs[model + ABOVE + kp] = p - (p >> rate);
        above = 1;
      }
      while (range < TOP) {
        range *= 256;
        code = code * 256 + nextByte();
      }
    }
    const last = above ? CLASSES - 2 - kp : kp - 1;
    const unary = model + (above ? UP : DOWN);
    let distance = 0;
    let more = 1;
    while (distance < last) {
      p = probs[unary + distance];
      rate = rates[unary + distance];
      if (rate < RATE_MAX) rates[unary + distance] = rate + 1;
      bound = Math.floor(range / RANGE_UNIT) * p;
      if (code < bound) {
        range = bound;
        probs[unary + distance] = p + ((PROB_ONE - p) >> rate);
        more = 0;
      } else {
        code -= bound;
        range -= bound;
        probs[unary + distance] = p - (p >> rate);
        more = 1;
      }
      while (range < TOP) {
        range *= 256;
        code = code * 256 + nextByte();
      }
      if (!more) break;
      distance++;
    }
    k = above ? kp + 1 + distance : kp - 1 - distance;
  }
  decodedClass = k;
  let negative = 0;
  let top = 0;
  if (k >= 1) {
    p = probs[model + SIGN + k];
    rate = rates[model + SIGN + k];
    if (rate < RATE_MAX) rates[model + SIGN + k] = rate + 1;
    bound = Math.floor(range / RANGE_UNIT) * p;
    if (code < bound) {
      range = bound;
      probs[model + SIGN + k] = p + ((PROB_ONE - p) >> rate);
      negative = 0;
    } else {
      code -= bound;
      range -= bound;
      probs[model + SIGN + k] = p - (p >> rate);
      negative = 1;
    }
    while (range < TOP) {
      range *= 256;
      code = code * 256 + nextByte();
    }
  }
  if (k >= 2) {
    p = probs[model + MANTISSA + k];
    rate = rates[model + MANTISSA + k];
    if (rate < RATE_MAX) rates[model + MANTISSA + k] = rate + 1;
    bound = Math.floor(range / RANGE_UNIT) * p;
    if (code < bound) {
      range = bound;
      probs[model + MANTISSA + k] = p + ((PROB_ONE - p) >> rate);
      top = 0;
    } else {
      code -= bound;
      range -= bound;
      probs[model + MANTISSA + k] = p - (p >> rate);
      top = 1;
    }
    while (range < TOP) {
      range *= 256;
      code = code * 256 + nextByte();
    }
  }
  state[0] = range;
  state[1] = code;
  if (k === 0) return 0;
  const magnitude = k === 1 ? 1 : POW2[k - 1] + top * POW2[k - 2] + direct(k - 2);
  return negative ? -magnitude : magnitude;
}

/**
 * Decode ``n`` points' values from ``payload`` (the payload and whatever follows it): residuals of range,
 * azimuth and elevation into ``residuals`` (3n: point i's at 3i, 3i+1, 3i+2; point 0's are 0) and intensity
 * values into ``intensity`` (n: bytes, or differences from -128 to 127 when ``differences``).
 * @returns {number} the bytes the payload took, or -1 when the decoder read past its end or met direct bits
 *   a coder cannot have written (a corrupt payload)
 */
export function decodeValues(payload, n, differences, residuals, intensity) {
  bytes = payload;
  probs.fill(PROB_INIT);
  rates.fill(RATE_MIN);
  state[0] = 0xffffffff;
  state[1] = 0;
  cursor[0] = 0;
  cursor[1] = 0;
  for (let i = 0; i < 4; i++) state[1] = state[1] * 256 + nextByte();
  let r1 = 0, r2 = 0, a1 = 0, a2 = 0, e1 = 0, e2 = 0, i1 = 0, i2 = 0; // classes of each stream's last two values
  residuals[0] = residuals[1] = residuals[2] = 0;
  for (let p = 0; p < n; p++) {
    if (p > 0) {
      residuals[3 * p] = signed(0, (r1 + r2 + 1) >> 1);
      r2 = r1;
      r1 = decodedClass;
      residuals[3 * p + 1] = signed(SIGNED_MODEL, (a1 + a2 + 1) >> 1);
      a2 = a1;
      a1 = decodedClass;
      residuals[3 * p + 2] = signed(2 * SIGNED_MODEL, (e1 + e2 + 1) >> 1);
      e2 = e1;
      e1 = decodedClass;
    }
    if (differences) {
      intensity[p] = signed(INTENSITY_MODELS, (i1 + i2 + 1) >> 1);
      i2 = i1;
      i1 = decodedClass;
    } else { // a byte: 8 decisions down its tree
      let node = 1;
      for (let j = 0; j < 8; j++) node = node * 2 + bit(INTENSITY_MODELS + node);
      intensity[p] = node - 256;
    }
  }
  bytes = new Uint8Array(0);
  return cursor[0] > payload.length || cursor[1] ? -1 : cursor[0];
}
