// Point-chunk wire format (see docs/protocol.md): a 48-byte little-endian header, then one
// LZ4 block holding the chunk's records byte-transposed (all first bytes, then all second bytes, ...).
import lz4 from 'lz4js';

export const MAGIC = 0x4c50;
export const VERSION = 1;
export const HEADER_SIZE = 48;
export const Encoding = Object.freeze({ FLOAT32: 0, INT16: 1 });
export const RECORD_SIZE = Object.freeze({ [Encoding.FLOAT32]: 16, [Encoding.INT16]: 7 });
/** Largest point count one chunk may declare (bounds the scratch buffer). */
export const MAX_CHUNK_POINTS = Math.floor((65536 * 255) / 16);
/** Largest frame a chunk may declare (bounds the frame buffer allocated for it); as in the Python codec. */
export const MAX_FRAME_POINTS = 2 ** 21;
/** Largest INT16 quantisation step, metres (with a finite origin, decoded points stay finite). */
export const MAX_STEP = 1.0;

/** Thrown for any malformed chunk; the caller counts it and drops the chunk. */
export class ChunkError extends Error {}

/**
 * Parse and validate a chunk header.
 * @param {DataView} view the whole message
 * @returns {{encoding:number, frameId:number, captureTime:number, chunkIndex:number, chunkCount:number,
 *   pointOffset:number, pointCount:number, framePoints:number, step:number, origin:number[]}}
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
  if (!(encoding in RECORD_SIZE)) throw new ChunkError(`unknown encoding ${encoding}`);
  const h = {
    encoding,
    frameId: view.getUint32(4, true),
    captureTime: view.getFloat64(8, true),
    chunkIndex: view.getUint16(16, true),
    chunkCount: view.getUint16(18, true),
    pointOffset: view.getUint32(20, true),
    pointCount: view.getUint32(24, true),
    framePoints: view.getUint32(28, true),
    step: view.getFloat32(32, true),
    origin: [view.getFloat32(36, true), view.getFloat32(40, true), view.getFloat32(44, true)],
  };
  if (h.chunkCount === 0 || h.chunkIndex >= h.chunkCount) {
    throw new ChunkError(`chunk index ${h.chunkIndex} out of range for count ${h.chunkCount}`);
  }
  if (h.pointCount === 0 || h.pointCount > MAX_CHUNK_POINTS) throw new ChunkError(`invalid point count ${h.pointCount}`);
  if (h.framePoints > MAX_FRAME_POINTS) {
    throw new ChunkError(`frame size ${h.framePoints} exceeds the limit of ${MAX_FRAME_POINTS} points`);
  }
  if (h.pointOffset + h.pointCount > h.framePoints) {
    throw new ChunkError(`points ${h.pointOffset}+${h.pointCount} exceed frame size ${h.framePoints}`);
  }
  if (encoding === Encoding.INT16 && !(h.step > 0 && h.step <= MAX_STEP && h.origin.every(Number.isFinite))) {
    throw new ChunkError(`invalid quantisation step ${h.step} or origin ${h.origin}`);
  }
  return h;
}

let scratch = new Uint8Array(64 * 1024);

/**
 * Check that an LZ4 block is well formed before handing it to lz4js, which does no bounds
 * checking (it reads past a truncated input as zeros and follows any match offset). Walks the
 * sequence headers only: every literal run must lie inside the input, every match must point
 * into data already decoded, and the output must be exactly ``expected`` bytes.
 * @returns {string|null} what is wrong, or null
 */
export function lz4BlockProblem(src, expected) {
  const end = src.length;
  let s = 0;
  let d = 0;
  // a 4-bit length of 15 continues in the following bytes for as long as they are 255; -1 if cut off
  const length = (n) => {
    if (n !== 15) return n;
    let b;
    do {
      if (s >= end) return -1;
      b = src[s++];
      n += b;
    } while (b === 255);
    return n;
  };
  while (s < end) {
    const token = src[s++];
    const literals = length(token >> 4);
    if (literals < 0) return 'literal length runs past the input';
    if (s + literals > end) return 'literal run past the end of the input';
    s += literals;
    d += literals;
    if (d > expected) return 'block decodes to more bytes than the header declares';
    if (s === end) break; // the last sequence has literals only
    if (s + 2 > end) return 'match offset past the end of the input';
    const offset = src[s] | (src[s + 1] << 8);
    s += 2;
    if (offset === 0 || offset > d) return `match offset ${offset} points before the start of the output`;
    const match = length(token & 15);
    if (match < 0) return 'match length runs past the input';
    d += match + 4;
    if (d > expected) return 'block decodes to more bytes than the header declares';
  }
  if (d !== expected) return `payload decodes to ${d} bytes, expected ${expected}`;
  return null;
}

function decompress(bytes, expected) {
  const problem = lz4BlockProblem(bytes, expected);
  if (problem) throw new ChunkError(`corrupt LZ4 block: ${problem}`);
  if (scratch.length < expected) scratch = new Uint8Array(expected);
  const out = scratch.subarray(0, expected);
  let end;
  try {
    end = lz4.decompressBlock(bytes, out, 0, bytes.length, 0);
  } catch (err) {
    throw new ChunkError(`corrupt LZ4 block: ${err.message}`);
  }
  if (end !== expected) throw new ChunkError(`payload decodes to ${end} bytes, expected ${expected}`);
  return out;
}

/**
 * Decode one chunk message into ``target`` (x, y, z, intensity float32 per point) at the
 * chunk's point offset. Nothing is written unless the whole chunk decoded.
 * @param {ArrayBuffer} message
 * @param {(header: object) => Float32Array} targetFor returns the frame buffer (length >= framePoints*4)
 * @returns {object} the header
 */
export function decodeChunkInto(message, targetFor) {
  const view = new DataView(message);
  const h = decodeHeader(view);
  const n = h.pointCount;
  const rs = RECORD_SIZE[h.encoding];
  const planes = decompress(new Uint8Array(message, HEADER_SIZE), n * rs);
  const target = targetFor(h);
  if (target.length < (h.pointOffset + n) * 4) throw new ChunkError('frame buffer too small for chunk');
  const base = h.pointOffset * 4;
  if (h.encoding === Encoding.FLOAT32) {
    const bytes = new Uint8Array(target.buffer, target.byteOffset + base * 4, n * 16);
    for (let b = 0; b < 16; b++) {
      const plane = b * n;
      for (let p = 0; p < n; p++) bytes[p * 16 + b] = planes[plane + p];
    }
  } else {
    const s = h.step;
    for (let axis = 0; axis < 3; axis++) {
      const lo = axis * 2 * n;
      const hi = lo + n;
      const o = h.origin[axis];
      for (let p = 0; p < n; p++) {
        const q = ((planes[hi + p] << 24) >> 16) | planes[lo + p];
        target[base + p * 4 + axis] = o + q * s;
      }
    }
    const ip = 6 * n;
    for (let p = 0; p < n; p++) target[base + p * 4 + 3] = planes[ip + p] / 255;
  }
  return h;
}
