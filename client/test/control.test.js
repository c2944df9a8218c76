// Control-message bounds, against the nesting vectors shared with the Python side (tests/golden/nesting.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { MAX_CONTROL_DEPTH, nestingDepth, StreamConnection } from '../src/connection.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'golden');
const vectors = JSON.parse(readFileSync(join(GOLDEN, 'nesting.json'), 'utf8'));

test('the nesting bound is the one the server applies', () => {
  assert.equal(MAX_CONTROL_DEPTH, vectors.maxDepth);
});

for (const [text, depth] of vectors.cases) {
  test(`nesting of ${JSON.stringify(text.slice(0, 40))}: ${depth}`, () => {
    assert.equal(nestingDepth(text), depth);
  });
}

test('a control message nested too deep is ignored and counted; one at the bound is handled', () => {
  const seen = [];
  const conn = new StreamConnection({ onPoints: () => {}, onControl: (msg) => seen.push(msg) });
  const wrap = (d) => `{"type": "stats", "x": ${'['.repeat(d)}${']'.repeat(d)}}`;
  conn.controlText(wrap(MAX_CONTROL_DEPTH - 1));
  conn.controlText(wrap(MAX_CONTROL_DEPTH));
  conn.controlText(wrap(5000));
  assert.equal(seen.length, 1);
  assert.equal(conn.controlErrors, 2);
});
