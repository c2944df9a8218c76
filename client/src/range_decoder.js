// The adaptive binary range decoder of SPHERICAL payloads: the decoder of codec/range_coding.py, decision for
// decision (docs/protocol.md, "The range coder"). Numbers stay below 2**32 and are handled as doubles, not
// with JavaScript's signed 32-bit bit operations; range and code live in a Uint32Array, where V8 keeps them
// unboxed (as object fields, values above 2**30 would be a heap allocation per decision: 6× slower).

const PROB_BITS = 12;
const PROB_ONE = 1 << PROB_BITS;
const PROB_INIT = PROB_ONE / 2;
const ADAPT_SHIFT = 4;
const TOP = 2 ** 24;
/** Largest bit length of |r| - 1. */
export const MAX_CLASS = 32;
export const CONTEXTS = 4;
/** Probabilities of one signed-value model: non-zero, sign, unary class decisions, the mantissa bit of each class. */
export const SIGNED_MODEL = 2 + MAX_CLASS + MAX_CLASS + 1;
/** Where the intensity's probabilities start: after the range, azimuth and elevation models. */
export const INTENSITY_MODELS = 3 * CONTEXTS * SIGNED_MODEL;
const MODEL_SIZE = INTENSITY_MODELS + Math.max(256, CONTEXTS * SIGNED_MODEL);

/** min(3, bit length of |a| + |b|): the context of a value from the two before it in its stream. */
export function context(a, b) {
  const s = Math.abs(a) + Math.abs(b);
  return s >= 4 ? 3 : s >= 2 ? 2 : s;
}

export class RangeDecoder {
  /**
   * @param {Uint8Array} bytes the payload and whatever follows it
   * @param {(message: string) => Error} fail makes the error thrown for a corrupt payload
   */
  constructor(bytes, fail) {
    this.bytes = bytes;
    this.fail = fail;
    this.pos = 0;
    this.overrun = false;
    this.probs = new Uint16Array(MODEL_SIZE).fill(PROB_INIT);
    this.state = new Uint32Array(2); // range, code
    let code = 0;
    for (let i = 0; i < 4; i++) code = code * 256 + this.next();
    this.state[0] = 0xffffffff;
    this.state[1] = code;
  }

  next() {
    if (this.pos < this.bytes.length) return this.bytes[this.pos++];
    this.pos++;
    this.overrun = true;
    return 0;
  }

  /** One learnt decision with probability ``probs[i]`` of a 0. */
  bit(i) {
    const state = this.state;
    const probs = this.probs;
    const p = probs[i];
    let range = state[0];
    let code = state[1];
    const bound = (range >>> PROB_BITS) * p;
    let bit;
    if (code < bound) {
      range = bound;
      probs[i] = p + ((PROB_ONE - p) >> ADAPT_SHIFT);
      bit = 0;
    } else {
      code -= bound;
      range -= bound;
      probs[i] = p - (p >> ADAPT_SHIFT);
      bit = 1;
    }
    while (range < TOP) {
      range *= 256;
      code = code * 256 + this.next();
    }
    state[0] = range;
    state[1] = code;
    return bit;
  }

  /** ``count`` direct bits (probability ½), most significant first. */
  direct(count) {
    const state = this.state;
    let range = state[0];
    let code = state[1];
    let value = 0;
    for (let j = 0; j < count; j++) {
      range = range >>> 1;
      let bit = 0;
      if (code >= range) {
        code -= range;
        bit = 1;
      }
      value = value * 2 + bit;
      while (range < TOP) {
        range *= 256;
        code = code * 256 + this.next();
      }
    }
    state[0] = range;
    state[1] = code;
    return value;
  }

  /** A signed value coded with the model whose probabilities start at ``model``. */
  signed(model) {
    if (!this.bit(model)) return 0;
    const negative = this.bit(model + 1);
    let k = 0;
    while (k < MAX_CLASS && this.bit(model + 2 + k)) k++;
    let m = k;
    if (k >= 2) {
      const top = this.bit(model + 2 + MAX_CLASS + k);
      m = 2 ** (k - 1) + top * 2 ** (k - 2) + this.direct(k - 2);
    }
    return negative ? -(m + 1) : m + 1;
  }

  /** An intensity byte from its tree of 255 decisions. */
  byte() {
    let node = 1;
    for (let j = 0; j < 8; j++) node = node * 2 + this.bit(INTENSITY_MODELS + node);
    return node - 256;
  }

  /** The bytes the payload took; throws if the decoder read past its end. */
  finish() {
    if (this.overrun) throw this.fail('the range coder read past the end of the payload');
    return this.pos;
  }
}
