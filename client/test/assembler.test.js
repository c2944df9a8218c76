// Reassembly and link statistics with a repeatable loss pattern (no network).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { FrameAssembler, newer } from '../src/assembler.js';
import { ClockOffsetEstimator } from '../src/clock.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'golden');
const template = new Uint8Array(readFileSync(join(GOLDEN, 'float32_small.bin')));

/** A copy of the golden chunk re-labelled as chunk ``index`` of ``count`` of frame ``frameId``, of which the
 * viewer is sent the first ``sent``. */
function chunk(frameId, index, count, sent = count) {
  const m = template.slice();
  const v = new DataView(m.buffer);
  v.setUint32(4, frameId, true);
  v.setUint16(16, index, true);
  v.setUint16(18, count, true);
  v.setUint16(20, sent, true);
  v.setUint32(22, index * 5, true);
  v.setUint32(30, count * 5, true);
  return m.buffer;
}

function harness() {
  const frames = [];
  const a = new FrameAssembler({ bufferFor: (n) => new Float32Array(n * 4).fill(-1), onFrame: (f) => frames.push(f) });
  return { a, frames };
}

test('a viewer sent a prefix finishes the frame with the last chunk sent; unsent chunks are not losses', () => {
  const { a, frames } = harness();
  for (const i of [1, 0, 2]) a.push(chunk(1, i, 8, 3));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].complete, false);
  assert.equal(frames[0].pointsReceived, 15);
  assert.equal(a.stats.chunksLost, 0);
  assert.equal(a.stats.chunksUnsent, 5);
  a.push(chunk(2, 0, 8, 2));
  a.push(chunk(2, 1, 8, 3)); // disagrees with its frame on chunksSent: bad
  assert.equal(a.stats.badChunks, 1);
});

test('complete frames finish when their chunks are in, the ones before the last in any order', () => {
  const { a, frames } = harness();
  for (const i of [2, 0, 1, 3]) a.push(chunk(1, i, 4));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].complete, true);
  assert.equal(frames[0].pointsReceived, 20);
  assert.equal(a.stats.chunksLost, 0);
});

test('lost chunks: the frame finishes partially when the next frame starts, and loss is counted', () => {
  const { a, frames } = harness();
  a.push(chunk(1, 0, 4));
  a.push(chunk(1, 2, 4)); // 1 and 3 lost
  a.push(chunk(2, 0, 4));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].complete, false);
  assert.equal(frames[0].chunksReceived, 2);
  assert.equal(a.stats.chunksLost, 2);
  // points of lost chunks stay marked missing (intensity -1)
  assert.equal(frames[0].points[5 * 4 + 3], -1);
  assert.notEqual(frames[0].points[3], -1);
});

test('a frame whose last chunk is in finishes at once with what it has; a chunk after it is late', () => {
  const { a, frames } = harness();
  a.push(chunk(1, 0, 4));
  a.push(chunk(1, 3, 4)); // 1 and 2 were lost: nothing is retransmitted, the path keeps order
  assert.equal(frames.length, 1);
  assert.equal(frames[0].complete, false);
  assert.equal(frames[0].chunksReceived, 2);
  assert.equal(a.stats.chunksLost, 2);
  a.push(chunk(1, 1, 4)); // reordered after all: counted, not drawn
  assert.equal(a.stats.lateChunks, 1);
  assert.equal(frames.length, 1);
});

test('late and duplicate chunks are counted and dropped, bad chunks too', () => {
  const { a, frames } = harness();
  a.push(chunk(5, 0, 2));
  a.push(chunk(5, 0, 2));
  a.push(chunk(6, 0, 2)); // finishes frame 5 partially
  a.push(chunk(5, 1, 2)); // late
  a.push(new Uint8Array([1, 2, 3]).buffer);
  assert.equal(a.stats.duplicateChunks, 1);
  assert.equal(a.stats.lateChunks, 1);
  assert.equal(a.stats.badChunks, 1);
  assert.equal(frames.length, 1);
});

test('frame ids wrap around at 2^32', () => {
  assert.ok(newer(0, 0xffffffff));
  assert.ok(!newer(0xffffffff, 0));
  const { a, frames } = harness();
  a.push(chunk(0xffffffff, 0, 2));
  a.push(chunk(0, 0, 2));
  assert.equal(frames.length, 1);
  assert.equal(a.stats.lateChunks, 0);
});

test('clock offset: the lowest-RTT sample recovers an injected offset', () => {
  const est = new ClockOffsetEstimator();
  const offset = 12.345; // remote = local + offset
  const rtts = [0.08, 0.02, 0.005, 0.05];
  let t = 1000;
  for (const rtt of rtts) {
    const asym = rtt * 0.3; // outbound share of the RTT
    const remote = t + asym + offset;
    est.add(t, remote, t + rtt);
    t += 1;
  }
  // error bound is rtt/2 of the best sample
  assert.ok(Math.abs(est.offset - offset) <= 0.005 / 2 + 1e-9, `offset ${est.offset}`);
  assert.ok(Math.abs(est.best.rtt - 0.005) < 1e-9);
});

test('with the sender clock known, a new frame captured longer ago than maxAge is stale: dropped, counted', () => {
  // frames flowing (one finished just now): the old frame is stale; none finished, or the clock unknown: drawn
  const golden = readFileSync(join(GOLDEN, 'spherical_1mm_far.bin'));
  const withId = (id, captured) => {
    const copy = new Uint8Array(golden).buffer;
    const view = new DataView(copy);
    view.setUint32(4, id, true);
    view.setFloat64(8, captured, true);
    return copy;
  };
  const captured = new DataView(new Uint8Array(golden).buffer).getFloat64(8, true);
  for (const [serverNow, first, stale] of [[() => captured + 0.1, true, 1], [() => captured + 0.1, false, 0],
    [() => null, true, 0]]) {
    const frames = [];
    const assembler = new FrameAssembler({
      bufferFor: (n) => new Float32Array(n * 4).fill(-1), onFrame: (f) => frames.push(f), clock: () => 0, serverNow,
    });
    if (first) assembler.push(withId(1, captured));
    assembler.push(withId(2, captured - 2.0));
    assert.equal(assembler.stats.staleChunks, stale);
    assert.equal(frames.length, (first ? 1 : 0) + 1 - stale);
  }
});
