// Decoder tests against the golden vectors shared with the Python codec (tests/golden/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { ChunkError, decodeChunkInto, decodeHeader, HEADER_SIZE } from '../src/protocol.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'golden');

function load(name) {
  const buf = readFileSync(join(GOLDEN, name));
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

const vectors = readdirSync(GOLDEN).filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4));

test('there are golden vectors of both encodings, with and without colours', () => {
  assert.ok(vectors.some((v) => v.startsWith('float32')));
  assert.ok(vectors.some((v) => v.startsWith('spherical')));
  assert.ok(vectors.includes('colour_float32') && vectors.includes('colour_spherical_5mm'));
});

for (const name of vectors) {
  test(`golden ${name}: header and points match the Python decoder exactly`, () => {
    const expected = JSON.parse(readFileSync(join(GOLDEN, `${name}.json`), 'utf8'));
    const message = load(`${name}.bin`);
    const header = decodeHeader(new DataView(message));
    for (const [key, value] of Object.entries(expected.header)) {
      if (Array.isArray(value)) assert.deepEqual(header[key], value, key);
      else assert.equal(header[key], value, key);
    }
    const frame = new Float32Array(expected.header.framePoints * 4).fill(-1);
    const colours = new Uint8Array(expected.header.framePoints * 3).fill(7);
    let askedForColours = false;
    decodeChunkInto(message, () => frame, () => {
      askedForColours = true;
      return colours;
    });
    assert.equal(askedForColours, 'colours' in expected);
    if (expected.colours) {
      const at = expected.header.pointOffset * 3;
      assert.deepEqual(Array.from(colours.subarray(at, at + expected.colours.length * 3)), expected.colours.flat());
      assert.ok(colours.subarray(0, at).every((v) => v === 7)); // nothing outside the chunk's slice
      assert.ok(colours.subarray(at + expected.colours.length * 3).every((v) => v === 7));
    }
    const off = expected.header.pointOffset * 4;
    // FLOAT32 is bit-exact. SPHERICAL goes through cos and sin, whose last bit may differ between V8 and the
    // C library numpy uses: allowed one float32 rounding step (2**-23 relative), nothing more.
    const exact = expected.header.encoding === 0;
    expected.points.forEach((row, i) => {
      for (let k = 0; k < 4; k++) {
        const got = frame[off + i * 4 + k];
        const want = Math.fround(row[k]);
        if (exact || k === 3) assert.equal(got, want, `point ${i}[${k}]`);
        else assert.ok(Math.abs(got - want) <= Math.abs(want) * 2 ** -23, `point ${i}[${k}]: ${got} vs ${want}`);
      }
    });
    // nothing outside the chunk's slice was touched
    for (let i = 0; i < off; i++) assert.equal(frame[i], -1);
    for (let i = off + expected.points.length * 4; i < frame.length; i++) assert.equal(frame[i], -1);
  });
}

for (const file of readdirSync(join(GOLDEN, 'bad'))) {
  test(`bad chunk ${file} is rejected with a ChunkError and writes nothing`, () => {
    const message = load(join('bad', file));
    const frame = new Float32Array(4096).fill(-1);
    assert.throws(() => decodeChunkInto(message, () => frame), ChunkError);
    assert.ok(frame.every((v) => v === -1));
  });
}

test('10,000 mutated chunks: only ChunkErrors, never out-of-slice writes', () => {
  const base = new Uint8Array(load('spherical_5mm.bin'));
  const expected = JSON.parse(readFileSync(join(GOLDEN, 'spherical_5mm.json'), 'utf8'));
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  let rejected = 0;
  for (let i = 0; i < 10000; i++) {
    let m = base.slice();
    const kind = i % 4;
    if (kind === 0) m = m.slice(0, Math.floor(rand() * m.length));
    else if (kind === 1) m[HEADER_SIZE + Math.floor(rand() * (m.length - HEADER_SIZE))] ^= 1 << Math.floor(rand() * 8);
    else if (kind === 2) m[Math.floor(rand() * HEADER_SIZE)] = Math.floor(rand() * 256);
    else m = Uint8Array.from({ length: Math.floor(rand() * 600) }, () => Math.floor(rand() * 256));
    const frame = new Float32Array(expected.header.framePoints * 4 + 64).fill(-1);
    let header = null;
    try {
      header = decodeChunkInto(m.buffer, (h) => (h.framePoints * 4 <= frame.length ? frame : new Float32Array(h.framePoints * 4)));
    } catch (err) {
      assert.ok(err instanceof ChunkError, `unexpected ${err}`);
      rejected += 1;
      assert.ok(frame.every((v) => v === -1), 'a rejected chunk wrote into the frame');
      continue;
    }
    // accepted (e.g. a bit flip in a literal): writes stayed inside the declared slice
    const lo = header.pointOffset * 4;
    const hi = lo + header.pointCount * 4;
    if (frame.length >= hi) {
      for (let k = 0; k < frame.length; k++) if (k < lo || k >= hi) assert.equal(frame[k], -1);
    }
  }
  assert.ok(rejected > 5000, `only ${rejected} rejected`);
});
