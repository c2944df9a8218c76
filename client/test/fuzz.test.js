// 10,000+ mutated and random chunks through the JS frame assembler: nothing thrown, every bad chunk
// counted, no write outside the frame buffer, memory bounded, and the next good frame still assembles.
// (The Python decoder gets the same treatment in tests/test_decoder_fuzz.py.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { FrameAssembler } from '../src/assembler.js';
import { HEADER_SIZE, MAX_CHUNK_POINTS, MAX_FRAME_POINTS } from '../src/protocol.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'golden');
const ROUNDS = 10_000;
const GUARD = 64; // floats after every frame buffer that must never be written
const SENTINEL = 12345.5;

const seeds = readdirSync(GOLDEN).filter((f) => f.endsWith('.bin')).map((f) => new Uint8Array(readFileSync(join(GOLDEN, f))));

/** mulberry32: a small deterministic PRNG, so that a failure can be replayed. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Header fields a mutation may overwrite, as [offset, bytes] (docs/protocol.md; the float step is at 34). */
const FIELDS = [[4, 4], [16, 2], [18, 2], [20, 2], [22, 4], [26, 4], [30, 4], [34, 4], [38, 4], [42, 1], [43, 1],
  [44, 1], [45, 4], [49, 4], [53, 4], [57, 4], [61, 1]];
const EXTREMES = [0, 1, 2, 0xffff, 0xffffffff, MAX_CHUNK_POINTS, MAX_CHUNK_POINTS + 1, MAX_FRAME_POINTS, MAX_FRAME_POINTS + 1];

function randomBytes(rand, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function mutate(rand, seed) {
  const kind = Math.floor(rand() * 7);
  const data = seed.slice();
  const int = (n) => Math.floor(rand() * n);
  switch (kind) {
    case 0: // truncated anywhere
      return data.slice(0, int(data.length + 1));
    case 1: // a few bit flips
      for (let k = 1 + int(8); k > 0; k--) data[int(data.length)] ^= 1 << int(8);
      return data;
    case 2: { // a header field set to an extreme or random value (wrong counts, huge sizes)
      const [offset, size] = FIELDS[int(FIELDS.length)];
      const view = new DataView(data.buffer);
      if (offset === 34) view.setFloat32(offset, [0, -1, Infinity, NaN, 1e30, 1e-30][int(6)], true);
      else {
        const value = rand() < 0.6 ? EXTREMES[int(EXTREMES.length)] : int(2 ** (8 * size));
        if (size === 1) view.setUint8(offset, value & 0xff);
        else if (size === 2) view.setUint16(offset, value & 0xffff, true);
        else view.setUint32(offset, value >>> 0, true);
      }
      return data;
    }
    case 3: // payload replaced by garbage
      return concat(data.slice(0, HEADER_SIZE), randomBytes(rand, int(3000)));
    case 4: // garbage appended
      return concat(data, randomBytes(rand, 1 + int(200)));
    case 5: { // nothing but random bytes, sometimes with the right magic
      const noise = randomBytes(rand, int(4000));
      if (noise.length >= 2 && rand() < 0.5) noise.set([0x50, 0x4c]);
      return noise;
    }
    default: // another chunk's (well-formed, wrong) zstd frame under this header
      return concat(data.slice(0, HEADER_SIZE), seeds[int(seeds.length)].slice(HEADER_SIZE));
  }
}

test('ten thousand bad chunks: counted, nothing thrown, nothing written outside the frame buffer', () => {
  const buffers = [];
  const frames = [];
  const assembler = new FrameAssembler({
    bufferFor: (n) => {
      assert.ok(n <= MAX_FRAME_POINTS, `asked for a ${n}-point buffer`);
      const buffer = new Float32Array(n * 4 + GUARD);
      buffer.fill(SENTINEL, n * 4);
      buffers.push({ buffer, n });
      if (buffers.length > 4) buffers.shift();
      return buffer.subarray(0, n * 4);
    },
    onFrame: (frame) => frames.push(frame),
    clock: () => 0,
  });
  const rand = prng(20261124);
  const before = process.memoryUsage();
  let pushed = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const message = mutate(rand, seeds[Math.floor(rand() * seeds.length)]);
    assert.doesNotThrow(() => assembler.push(message.buffer.slice(message.byteOffset, message.byteOffset + message.length)));
    pushed += 1;
    for (const { buffer, n } of buffers) {
      for (let g = n * 4; g < buffer.length; g++) assert.equal(buffer[g], SENTINEL, `write past the frame at round ${i}`);
    }
  }
  const s = assembler.stats;
  assert.equal(s.badChunks + s.chunksReceived + s.lateChunks + s.duplicateChunks, pushed);
  // Chunks of a frame older than the newest are dropped as late before decoding (a mutated frame id far ahead
  // makes every later one late), so "most were caught" is asked of the chunks that reached the decoder.
  assert.ok(s.badChunks > 1000 && s.badChunks > 20 * s.chunksReceived, JSON.stringify(s));
  // Some mutations still decode and are written (a new frame id, a flipped intensity bit), so the guard was
  // exercised: 30 of 10,000 with this seed in the version 5 format.
  assert.ok(s.chunksReceived > 20, 'some mutations still decode and are written: the guard was exercised');
  const grown = process.memoryUsage().arrayBuffers - before.arrayBuffers;
  assert.ok(grown < 200 * 2 ** 20, `array buffers grew by ${grown} bytes`);

  // still sound: a newer, valid frame assembles completely
  const good = seeds.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength)).find((v) => v.getUint16(18, true) === 1);
  const copy = new Uint8Array(good.buffer.slice(good.byteOffset, good.byteOffset + good.byteLength));
  const id = ((assembler.newest ?? 0) + 1) >>> 0;
  new DataView(copy.buffer).setUint32(4, id, true);
  frames.length = 0;
  assembler.push(copy.buffer); // finishes whatever older frame was open, then this one
  const last = frames[frames.length - 1];
  assert.equal(last.frameId, id);
  assert.ok(last.complete);
});
