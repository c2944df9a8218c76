// The SPHERICAL range decoder on its own: bytes no encoder writes are refused (as codec/range_coding.py
// refuses them, tests/test_range_coding.py); whole payloads are read to their end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { decodeValues } from '../src/range_decoder.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'golden');
const HEADER_SIZE = 62;

function golden(name) {
  const message = new Uint8Array(readFileSync(join(GOLDEN, `${name}.bin`)));
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  return { payload: message.subarray(HEADER_SIZE), n: view.getUint32(26, true), differences: view.getUint8(61) & 1 };
}

function decode(payload, n, differences) {
  return decodeValues(payload, n, differences, new Float64Array(3 * n), new Float64Array(n));
}

test('a golden payload is read exactly to its end, and refused when cut anywhere', () => {
  for (const name of ['spherical_5mm', 'spherical_1mm_rings', 'spherical_5mm_extremes']) {
    const { payload, n, differences } = golden(name);
    assert.equal(decode(payload, n, differences), payload.length, name);
    for (const cut of [0, 3, payload.length >> 1, payload.length - 1]) {
      assert.equal(decode(payload.subarray(0, cut), n, differences), -1, `${name} cut at ${cut}`);
    }
  }
});

test('bytes no encoder writes (all 0xFF: direct bits wider than their width) are refused', () => {
  assert.equal(decode(new Uint8Array(64).fill(0xff), 40, 0), -1);
});

test('a second payload decodes after a refused one: no state survives between chunks', () => {
  const { payload, n, differences } = golden('spherical_5mm');
  const first = new Float64Array(3 * n);
  decodeValues(payload, n, differences, first, new Float64Array(n));
  decode(new Uint8Array(64).fill(0xff), 40, 0);
  const again = new Float64Array(3 * n);
  assert.equal(decodeValues(payload, n, differences, again, new Float64Array(n)), payload.length);
  assert.deepEqual(again, first);
});
