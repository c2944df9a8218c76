// The adaptive binary range decoder of SPHERICAL payloads, in AssemblyScript, compiled to WebAssembly by
// client/wasm/build.mjs: the decoder of codec/range_coding.py, decision for decision (docs/protocol.md,
// "The range coder" is normative). WebAssembly's 32-bit unsigned integers are the coder's own arithmetic;
// the same decoder in JavaScript had to carry them in doubles and took 1.5× as long (docs/design.md).
//
// Memory (one page and up, grown by client/src/range_decoder.js): the probabilities and their rates at
// fixed places, then the payload at INPUT; the caller says where the outputs go. Every load and store is
// bounds-checked by the engine, and the payload is read only below its length: a corrupt payload can make
// the decoder read zeros past its end (then it reports -1), never outside its memory.

const PROB_BITS: u32 = 12;
const PROB_ONE: u32 = 1 << PROB_BITS;
const PROB_INIT: u16 = <u16>(PROB_ONE >> 1);
/** A probability's first update moves it 1/2 of the way, then 1/4, 1/8, then 1/16 from then on. */
const RATE_MIN: u8 = 1;
const RATE_MAX: u8 = 4;
const TOP: u32 = 1 << 24;
/** Bit lengths of a value's magnitude: 0 (the value 0) to 34. */
const CLASSES: i32 = 35;
// where each kind of probability starts within a signed-value model (codec/range_coding.py)
const EQUAL: i32 = 0;
const ABOVE: i32 = 35;
const UP: i32 = 70;
const DOWN: i32 = 104;
const SIGN: i32 = 138;
const MANTISSA: i32 = 173;
const SIGNED_MODEL: i32 = 208;
/** Where the intensity's probabilities start: after the range, azimuth and elevation models. */
const INTENSITY_MODELS: i32 = 3 * SIGNED_MODEL;
const MODEL_SIZE: i32 = INTENSITY_MODELS + 256;
/** Direct bits decoded in one step. */
const DIRECT_BATCH: i32 = 8;

const PROBS: usize = 0; // MODEL_SIZE u16
const RATES: usize = 2048; // MODEL_SIZE u8
/** Where the caller puts the payload. */
export const INPUT: usize = 4096;

let range: u32 = 0;
let code: u32 = 0;
let pos: u32 = 0;
let end: u32 = 0;
let corrupt = false;
/** The class (bit length of the magnitude) of the value signed() returned last. */
let decodedClass: i32 = 0;

@inline function nextByte(): u32 {
  const at = pos;
  pos = at + 1;
  return at < end ? <u32>load<u8>(INPUT + <usize>at) : 0;
}

/** One learnt decision with probability ``probs[at]`` of a 0. */
@inline function decide(at: i32): u32 {
  const pa = PROBS + (<usize>at << 1);
  const ra = RATES + <usize>at;
  const p = <u32>load<u16>(pa);
  const rate = load<u8>(ra);
  if (rate < RATE_MAX) store<u8>(ra, rate + 1);
  const bound = (range >> PROB_BITS) * p;
  let bit: u32 = 0;
  if (code < bound) {
    range = bound;
    store<u16>(pa, <u16>(p + ((PROB_ONE - p) >> rate)));
  } else {
    code -= bound;
    range -= bound;
    store<u16>(pa, <u16>(p - (p >> rate)));
    bit = 1;
  }
  while (range < TOP) {
    range <<= 8;
    code = (code << 8) | nextByte();
  }
  return bit;
}

/** ``count`` direct bits, most significant first, up to DIRECT_BATCH at a time. */
function direct(count: i32): u64 {
  let value: u64 = 0;
  while (count > 0) {
    const batch = count > DIRECT_BATCH ? DIRECT_BATCH : count;
    count -= batch;
    range >>= <u32>batch;
    let v = code / range;
    if (v >> <u32>batch) { // only a corrupt payload gets here
      corrupt = true;
      v = 0;
    }
    code -= v * range;
    value = (value << <u64>batch) | <u64>v;
    while (range < TOP) {
      range <<= 8;
      code = (code << 8) | nextByte();
    }
  }
  return value;
}

/** A signed value with the model at ``model``, given its predicted class ``kp``; sets decodedClass. */
function signed(model: i32, kp: i32): f64 {
  let k = kp;
  if (decide(model + EQUAL + kp)) {
    let above: u32 = kp == 0 ? 1 : 0;
    if (kp > 0 && kp < CLASSES - 1) above = decide(model + ABOVE + kp);
    const last = above ? CLASSES - 2 - kp : kp - 1;
    const unary = model + (above ? UP : DOWN);
    let distance = 0;
    while (distance < last && decide(unary + distance)) distance++;
    k = above ? kp + 1 + distance : kp - 1 - distance;
  }
  decodedClass = k;
  if (k == 0) return 0;
  const negative = decide(model + SIGN + k);
  let magnitude: u64 = 1;
  if (k >= 2) {
    const top = <u64>decide(model + MANTISSA + k);
    magnitude = (<u64>1 << <u64>(k - 1)) | (top << <u64>(k - 2)) | direct(k - 2);
  }
  return negative ? -<f64>magnitude : <f64>magnitude;
}

/**
 * Decode ``n`` points' values from the ``length`` bytes at INPUT (the payload and whatever follows it):
 * residuals of range, azimuth and elevation as f64 at ``residuals`` (3n: point i's at 3i, 3i+1, 3i+2;
 * point 0's are 0) and intensity values as f64 at ``intensity`` (n: bytes, or differences from -128 to 127
 * when ``differences``). Returns the bytes the payload took, or -1 when the decoder read past its end or
 * met direct bits a coder cannot have written (a corrupt payload).
 */
export function decodeValues(length: u32, n: i32, differences: bool, residuals: usize, intensity: usize): i32 {
  for (let i = 0; i < MODEL_SIZE; i++) {
    store<u16>(PROBS + (<usize>i << 1), PROB_INIT);
    store<u8>(RATES + <usize>i, RATE_MIN);
  }
  end = length;
  pos = 0;
  corrupt = false;
  range = 0xffffffff;
  code = 0;
  for (let i = 0; i < 4; i++) code = (code << 8) | nextByte();
  let r1 = 0, r2 = 0, a1 = 0, a2 = 0, e1 = 0, e2 = 0, i1 = 0, i2 = 0; // classes of each stream's last two values
  store<f64>(residuals, 0, 0);
  store<f64>(residuals, 0, 8);
  store<f64>(residuals, 0, 16);
  for (let p = 0; p < n; p++) {
    const at = residuals + <usize>p * 24;
    if (p > 0) {
      store<f64>(at, signed(0, (r1 + r2 + 1) >> 1));
      r2 = r1;
      r1 = decodedClass;
      store<f64>(at, signed(SIGNED_MODEL, (a1 + a2 + 1) >> 1), 8);
      a2 = a1;
      a1 = decodedClass;
      store<f64>(at, signed(2 * SIGNED_MODEL, (e1 + e2 + 1) >> 1), 16);
      e2 = e1;
      e1 = decodedClass;
    }
    if (differences) {
      store<f64>(intensity + (<usize>p << 3), signed(INTENSITY_MODELS, (i1 + i2 + 1) >> 1));
      i2 = i1;
      i1 = decodedClass;
    } else { // a byte: 8 decisions down its tree
      let node = 1;
      for (let j = 0; j < 8; j++) node = node * 2 + <i32>decide(INTENSITY_MODELS + node);
      store<f64>(intensity + (<usize>p << 3), <f64>(node - 256));
    }
  }
  return pos > end || corrupt ? -1 : <i32>pos;
}
