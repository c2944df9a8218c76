// Point-chunk wire format (see docs/protocol.md): a 62-byte little-endian header, then the chunk's points in
// the header's encoding: FLOAT32 as one Zstandard frame (with the colours, when the COLOUR flag is set),
// SPHERICAL as a range-coded payload (then a Zstandard frame of the colours, when COLOUR is set). The same
// decoder as stream/protocol.py and codec/ in Python, checked against the same golden vectors (tests/golden/).
import { ZSTDDecoder } from 'zstddec';
import { decodeValues } from './range_decoder.js';

const zstd = new ZSTDDecoder();
await zstd.init(); // WebAssembly, compiled once: every importer waits for it

export const MAGIC = 0x4c50;
export const VERSION = 5;
export const HEADER_SIZE = 62;
export const Encoding = Object.freeze({ FLOAT32: 0, SPHERICAL: 1 });
/** Largest point count one chunk may declare (bounds the scratch buffer). */
export const MAX_CHUNK_POINTS = Math.floor((65536 * 255) / 16);
/** Largest frame a chunk may declare (bounds the frame buffer allocated for it); as in the Python codec. */
export const MAX_FRAME_POINTS = 2 ** 21;
/** Largest quantisation step, metres. */
export const MAX_STEP = 1.0;
/** Angle steps per turn: at least this many, at most 2**30 (codec/spherical.py). */
export const MIN_TURN = 4;
export const MAX_TURN = 2 ** 30;
export const MAX_RANGE_STEPS = 2 ** 31 - 1;
/** SPHERICAL flag: intensity coded as differences modulo 256. */
export const INTENSITY_DIFFERENCES = 0x01;
/** Flag of either encoding: a colour plane (red, green, blue bytes per point) follows the points. */
export const COLOUR = 0x80;
/** An integer above 2π: a point's angle level compares turn with 7·(range + 1) (codec/spherical.py). */
const LEVEL_DIVISOR = 7;

/** Thrown for any malformed chunk; the caller counts it and drops the chunk. */
export class ChunkError extends Error {}

/**
 * Parse and validate a chunk header.
 * @param {DataView} view the whole message
 * @returns {{encoding:number, frameId:number, captureTime:number, chunkIndex:number, chunkCount:number,
 *   chunksSent:number, pointOffset:number, pointCount:number, framePoints:number, step:number, turn:number, widths:number[],
 *   bases:number[]}}
 */
export function decodeHeader(view) {
  if (view.byteLength < HEADER_SIZE) {
    throw new ChunkError(`chunk too short: ${view.byteLength} bytes, header needs ${HEADER_SIZE}`);
  }
  const magic = view.getUint16(0, true);
  if (magic !== MAGIC) throw new ChunkError(`bad magic 0x${magic.toString(16)}`);
  const version = view.getUint8(2);
  if (version !== VERSION) throw new ChunkError(`unsupported version ${version}`);
  const encoding = view.getUint8(3);
  if (encoding !== Encoding.FLOAT32 && encoding !== Encoding.SPHERICAL) {
    throw new ChunkError(`unknown encoding ${encoding}`);
  }
  const h = {
    encoding,
    frameId: view.getUint32(4, true),
    captureTime: view.getFloat64(8, true),
    chunkIndex: view.getUint16(16, true),
    chunkCount: view.getUint16(18, true),
    chunksSent: view.getUint16(20, true),
    pointOffset: view.getUint32(22, true),
    pointCount: view.getUint32(26, true),
    framePoints: view.getUint32(30, true),
    step: view.getFloat32(34, true),
    turn: view.getUint32(38, true),
    widths: [view.getUint8(42), view.getUint8(43), view.getUint8(44)],
    bases: [view.getUint32(45, true), view.getInt32(49, true), view.getInt32(53, true)],
    azimuthStep: view.getInt32(57, true),
    flags: view.getUint8(61),
  };
  if (!(h.chunksSent > 0 && h.chunksSent <= h.chunkCount)) {
    throw new ChunkError(`${h.chunksSent} chunks sent of ${h.chunkCount}`);
  }
  if (h.chunkIndex >= h.chunksSent) {
    throw new ChunkError(`chunk index ${h.chunkIndex} out of range for ${h.chunksSent} chunks sent`);
  }
  if (h.pointCount === 0 || h.pointCount > MAX_CHUNK_POINTS) throw new ChunkError(`invalid point count ${h.pointCount}`);
  if (h.framePoints > MAX_FRAME_POINTS) {
    throw new ChunkError(`frame size ${h.framePoints} exceeds the limit of ${MAX_FRAME_POINTS} points`);
  }
  if (h.pointOffset + h.pointCount > h.framePoints) {
    throw new ChunkError(`points ${h.pointOffset}+${h.pointCount} exceed frame size ${h.framePoints}`);
  }
  if (encoding === Encoding.FLOAT32) {
    if (h.step || h.turn || h.widths.some((w) => w) || h.bases.some((b) => b) || h.azimuthStep || (h.flags & ~COLOUR)) {
      throw new ChunkError('a FLOAT32 chunk has quantisation fields');
    }
  } else {
    if (!(h.step > 0 && h.step <= MAX_STEP)) throw new ChunkError(`invalid quantisation step ${h.step}`);
    if (!(h.turn >= MIN_TURN && h.turn <= MAX_TURN)) throw new ChunkError(`invalid angle steps per turn ${h.turn}`);
    if (h.widths.some((w) => w)) throw new ChunkError(`reserved bytes are not zero: ${h.widths}`);
    if (h.bases[0] > MAX_RANGE_STEPS) throw new ChunkError(`invalid first range ${h.bases[0]}`);
    if (h.flags & ~(INTENSITY_DIFFERENCES | COLOUR)) throw new ChunkError(`unknown flags 0x${h.flags.toString(16)}`);
  }
  return h;
}

/**
 * Bytes of the Zstandard frame after the header (FLOAT32) or after the range-coded points (SPHERICAL with
 * colours; 0: no frame).
 */
export function zstdSize(h) {
  const colour = h.flags & COLOUR ? h.pointCount * 3 : 0;
  return h.encoding === Encoding.FLOAT32 ? h.pointCount * 16 + colour : colour;
}

/**
 * The content size a Zstandard frame header declares (RFC 8878, 3.1.1.1), or -1 when it declares none,
 * uses a dictionary or is not a Zstandard frame. Read before decompressing, so that nothing but the size
 * the chunk header implies is ever allocated.
 */
export function zstdContentSize(src) {
  if (src.length < 6 || src[0] !== 0x28 || src[1] !== 0xb5 || src[2] !== 0x2f || src[3] !== 0xfd) return -1;
  const descriptor = src[4];
  const sizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  if (descriptor & 0x0b) return -1; // reserved bit, or a dictionary id
  const sizeBytes = [singleSegment, 2, 4, 8][sizeFlag];
  if (sizeBytes === 0) return -1;
  const at = 5 + (singleSegment ? 0 : 1);
  if (src.length < at + sizeBytes) return -1;
  let size = 0;
  for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + src[at + i];
  return sizeFlag === 1 ? size + 256 : size;
}

function decompress(bytes, expected) {
  const declared = zstdContentSize(bytes);
  if (declared !== expected) {
    throw new ChunkError(`zstd frame declares ${declared} bytes, the header implies ${expected}`);
  }
  // zstddec returns what ZSTD_decompress wrote: nothing (an error code) for a corrupt frame, fewer bytes for a
  // cut one; a second frame or trailing bytes are an error too (ZSTD_decompress reads them as a frame).
  const out = zstd.decode(bytes, declared);
  if (out.length !== declared) throw new ChunkError(`corrupt zstd frame: decodes to ${out.length} of ${declared} bytes`);
  return out;
}

/** The value of ``width`` byte planes at ``p`` (plane ``k`` of ``count`` bytes starts at ``at + k*count``). */
function planeValue(raw, at, count, width, p) {
  let v = raw[at + p];
  if (width > 1) v += raw[at + count + p] * 256;
  if (width > 2) v += raw[at + 2 * count + p] * 65536;
  if (width > 3) v += raw[at + 3 * count + p] * 16777216;
  return v;
}

function decodeFloat32(raw, n, target, base) {
  const bits = new Uint32Array(target.buffer, target.byteOffset + base * 4, n * 4);
  const plane = n * 4;
  for (let c = 0; c < 4; c++) {
    let value = 0;
    const at = c * plane;
    for (let p = 0; p < n; p++) {
      value = (value + planeValue(raw, at, n, 4, p)) >>> 0; // uint32 differences, wrapping
      bits[p * 4 + c] = value;
    }
  }
}

/**
 * SPHERICAL (codec/spherical.py, codec/range_coding.py): the range-coded residuals of range, azimuth and
 * elevation and the intensity of each point. Decodes into ``out`` (n × 4), throws on any inconsistency,
 * and returns the bytes the payload took.
 */
function decodeSpherical(h, bytes, n, out) {
  if (values.residuals.length < 3 * n) values = { residuals: new Float64Array(3 * n), intensity: new Float64Array(n) };
  const { residuals, intensity: intensities } = values;
  const differences = h.flags & INTENSITY_DIFFERENCES;
  const used = decodeValues(bytes, n, differences, residuals, intensities);
  if (used < 0) throw new ChunkError('the range coder read past the end of the payload, or met bits it cannot have written');
  const { turn, step } = h;
  const angle = (2 * Math.PI) / turn;
  const pow2 = new Float64Array(32);
  const stepShifted = new Float64Array(32); // azimuthStep >> m, for every level m
  for (let m = 0; m < 32; m++) {
    pow2[m] = 2 ** m;
    stepShifted[m] = Math.floor(h.azimuthStep / pow2[m]);
  }
  let range = h.bases[0];
  let azimuth = h.bases[1];
  let elevation = h.bases[2];
  let intensity = 0;
  let lastLevel = 0;
  let lastRange = -1;
  let lastElevation = NaN;
  let cosEl = 0;
  let sinEl = 0;
  for (let p = 0; p < n; p++) {
    const dr = residuals[3 * p];
    const ra = residuals[3 * p + 1];
    const re = residuals[3 * p + 2];
    intensity = differences ? (intensity + intensities[p]) & 255 : intensities[p];
    let level = lastLevel;
    if (p > 0) range += dr;
    if (range !== lastRange) {
      if (!(range >= 0 && range <= MAX_RANGE_STEPS)) throw new ChunkError('a range is outside 0..2**31-1 steps');
      const q = Math.floor(turn / (LEVEL_DIVISOR * (range + 1)));
      level = q >= 1 ? 31 - Math.clz32(q) : 0;
      lastRange = range;
    }
    if (p > 0) {
      const m = level < lastLevel ? level : lastLevel;
      const da = (ra + stepShifted[m]) * pow2[m];
      const de = re * pow2[m];
      if (Math.abs(da) > turn || Math.abs(de) > turn) throw new ChunkError('an angle difference is larger than a turn');
      azimuth += da;
      elevation += de;
    }
    lastLevel = level;
    if (elevation !== lastElevation) { // constant along a ring: skip the trigonometry
      lastElevation = elevation;
      cosEl = Math.cos(elevation * angle);
      sinEl = Math.sin(elevation * angle);
    }
    const r = range * step;
    const horizontal = r * cosEl;
    const az = azimuth * angle;
    const o = p * 4;
    out[o] = horizontal * Math.cos(az);
    out[o + 1] = horizontal * Math.sin(az);
    out[o + 2] = r * sinEl;
    out[o + 3] = intensity / 255;
  }
  return used;
}

/**
 * The colour plane (codec/colour.py): n red, n green and n blue differences modulo 256, into ``out``
 * (r, g, b per point) from ``base``.
 */
function decodeColours(plane, n, out, base) {
  for (let c = 0; c < 3; c++) {
    let value = 0;
    const at = c * n;
    for (let p = 0; p < n; p++) {
      value = (value + plane[at + p]) & 255;
      out[base + p * 3 + c] = value;
    }
  }
}

let scratch = new Float32Array(0);
let values = { residuals: new Float64Array(0), intensity: new Float64Array(0) };

/**
 * Decode one chunk message into ``target`` (x, y, z, intensity float32 per point) at the
 * chunk's point offset, and its colours, if it has any, into ``coloursFor``'s buffer (r, g, b bytes per
 * point). Nothing is written unless the whole payload decompressed and the points decoded.
 * @param {ArrayBuffer} message
 * @param {(header: object) => Float32Array} targetFor returns the frame buffer (length >= framePoints*4)
 * @param {(header: object) => Uint8Array} [coloursFor] returns the frame's colour buffer (length >=
 *   framePoints*3); called only for a chunk with colours
 * @returns {object} the header
 */
export function decodeChunkInto(message, targetFor, coloursFor) {
  const view = new DataView(message);
  const h = decodeHeader(view);
  const body = new Uint8Array(message, HEADER_SIZE);
  const n = h.pointCount;
  const coloured = (h.flags & COLOUR) !== 0;
  const target = targetFor(h);
  if (target.length < (h.pointOffset + n) * 4) throw new ChunkError('frame buffer too small for chunk');
  const base = h.pointOffset * 4;
  let colourPlane = null;
  if (h.encoding === Encoding.FLOAT32) {
    const payload = decompress(body, zstdSize(h));
    decodeFloat32(payload, n, target, base);
    colourPlane = payload.subarray(n * 16);
  } else { // decoded aside: an inconsistency found half way must leave the frame as it was
    if (scratch.length < n * 4) scratch = new Float32Array(n * 4);
    const used = decodeSpherical(h, body, n, scratch);
    const rest = body.subarray(used);
    if (coloured) colourPlane = decompress(rest, zstdSize(h));
    else if (rest.length) throw new ChunkError(`${rest.length} bytes after the points`);
    target.set(scratch.subarray(0, n * 4), base);
  }
  if (coloured && coloursFor) {
    const colours = coloursFor(h);
    if (colours.length < (h.pointOffset + n) * 3) throw new ChunkError('colour buffer too small for chunk');
    decodeColours(colourPlane, n, colours, h.pointOffset * 3);
  }
  return h;
}
