// The adaptive binary range decoder of SPHERICAL payloads (docs/protocol.md, "The range coder"): the
// WebAssembly module client/wasm/build.mjs compiles from client/wasm/range_decoder.ts (AssemblyScript),
// decision for decision the decoder of codec/range_coding.py. This module copies a payload into the
// module's memory, runs it, and copies the values out.
import wasmBase64 from '../build/range_decoder_wasm.js';

const binary = Uint8Array.from(atob(wasmBase64), (c) => c.charCodeAt(0));
const { instance } = await WebAssembly.instantiate(binary, {
  env: { abort() { throw new Error('the range decoder aborted'); } },
});
const { memory, decodeValues: decode } = instance.exports;
const INPUT = instance.exports.INPUT.value;
const PAGE = 65536;

/**
 * Decode ``n`` points' values from ``payload`` (the payload and whatever follows it): residuals of range,
 * azimuth and elevation into ``residuals`` (3n: point i's at 3i, 3i+1, 3i+2; point 0's are 0) and intensity
 * values into ``intensity`` (n: bytes, or differences from -128 to 127 when ``differences``).
 * @returns {number} the bytes the payload took, or -1 when the decoder read past its end or met direct bits
 *   a coder cannot have written (a corrupt payload)
 */
export function decodeValues(payload, n, differences, residuals, intensity) {
  const residualsAt = INPUT + Math.ceil(payload.length / 8) * 8;
  const intensityAt = residualsAt + 24 * Math.max(n, 1);
  const needed = intensityAt + 8 * n;
  if (memory.buffer.byteLength < needed) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / PAGE));
  new Uint8Array(memory.buffer, INPUT, payload.length).set(payload);
  const used = decode(payload.length, n, differences ? 1 : 0, residualsAt, intensityAt);
  residuals.set(new Float64Array(memory.buffer, residualsAt, 3 * n));
  intensity.set(new Float64Array(memory.buffer, intensityAt, n));
  return used;
}
