// The viewer's tools without a browser: picking, the colour range, the settings in storage and the address.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ColourRange, turboLut, valueRange } from '../src/colormap.js';
import { Measure, pickPoint, pointAt } from '../src/picking.js';
import { defaults, fromFragment, fromStorage, initialSettings, toFragment } from '../src/settings.js';
import { actionFor, SHORTCUTS } from '../src/shortcuts.js';

/** A camera at the origin looking down -z with a 90° field of view on a 200 × 200 canvas, as a column-major
 * projection matrix (near 0.1, far 100): point (x, y, -d) lands at pixel (100 + 100 x/d, 100 - 100 y/d). */
const N = 0.1;
const F = 100;
const PROJ = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, -(F + N) / (F - N), -1, 0, 0, (-2 * F * N) / (F - N), 0];

function frame(rows) {
  return Float32Array.from(rows.flat());
}

test('the point drawn nearest the click wins; of two on the same pixel, the nearer the camera', () => {
  const points = frame([[0, 0, -10, 0.5], [0, 0, -5, 0.7], [1, 0, -10, 0.2], [0.02, 0, -10, -1]]);
  assert.equal(pickPoint(points, 4, PROJ, 200, 200, 100, 100), 1); // (0, 0, -5) hides (0, 0, -10)
  assert.equal(pickPoint(points, 4, PROJ, 200, 200, 110, 100), 2); // (1, 0, -10) is at x = 110
  assert.equal(pickPoint(points, 4, PROJ, 200, 200, 150, 150), -1); // nothing within 6 px
  assert.equal(pickPoint(points, 1, PROJ, 200, 200, 100.2, 100), 0); // only the first point counted
  // a point behind the camera, and one that never arrived (negative intensity), are never picked
  assert.equal(pickPoint(frame([[0, 0, 5, 1], [0.2, 0, -10, -1]]), 2, PROJ, 200, 200, 100, 100), -1);
});

test('a picked point says where it is; two give their distance; a third starts a new pair', () => {
  const points = frame([[3, 4, 0, 0.25], [3, 4, 12, 1]]);
  const a = pointAt(points, 0);
  assert.deepEqual(a, { x: 3, y: 4, z: 0, range: 5, intensity: 0.25 });
  const m = new Measure();
  m.add(a);
  assert.equal(m.distance, null);
  m.add(pointAt(points, 1));
  assert.equal(m.distance, 12);
  m.add(a);
  assert.equal(m.picked.length, 1);
});

test('the turbo lookup table runs from blue (visible on the dark background) through green to dark red', () => {
  const lut = turboLut(256);
  assert.equal(lut.length, 1024);
  const at = (i) => Array.from(lut.slice(i * 4, i * 4 + 4));
  assert.ok(at(0)[2] > 120 && at(0)[2] > at(0)[0] && at(0)[3] === 255); // blue end, not turbo's near-black start
  assert.ok(at(128)[1] > 200); // green middle
  assert.ok(at(255)[0] > at(255)[2] && at(255)[1] < 40); // red end
});

test('the colour range spans the 2nd..98th percentile of the mode\'s values, ignores points that never arrived', () => {
  const rows = [];
  for (let i = 0; i < 1000; i++) rows.push([i / 100, 0, i / 1000 - 1, i / 999]);
  rows.push([0, 0, 50, -1]); // lost: its height must not count
  const points = frame(rows);
  const [lo, hi] = valueRange(points, rows.length, 'height');
  assert.ok(Math.abs(lo - -0.98) < 0.002 && Math.abs(hi - -0.02) < 0.002, `${lo}..${hi}`);
  const [rlo, rhi] = valueRange(points, rows.length, 'range');
  assert.ok(rlo > 0.1 && rhi < 10, `${rlo}..${rhi}`);
  assert.equal(valueRange(frame([[1, 1, 1, -1]]), 1, 'intensity'), null);
  const [flo, fhi] = valueRange(frame([[1, 1, 1, 0.5], [2, 2, 2, 0.5]]), 2, 'intensity');
  assert.ok(fhi > flo); // one value: still a range, never NaN colours
});

test('a fitted range follows the frames smoothly; a fixed one stays until released; a bad one is refused', () => {
  const r = new ColourRange(0.5);
  const flat = (v) => frame(Array.from({ length: 100 }, (_, i) => [0, 0, 0, v + i / 1000]));
  assert.ok(r.fit(flat(0), 100, 'intensity'));
  const first = r.range.slice();
  r.fit(flat(1), 100, 'intensity');
  assert.ok(r.range[0] > first[0] + 0.4 && r.range[0] < first[0] + 0.6); // half way: smoothed
  r.fix(-1, 2);
  assert.equal(r.fit(flat(5), 100, 'intensity'), false);
  assert.deepEqual(r.range, [-1, 2]);
  assert.throws(() => r.fix(2, 1), RangeError);
  assert.throws(() => r.fix(NaN, 1), RangeError);
  r.release();
  assert.ok(r.fit(flat(5), 100, 'intensity'));
  r.reset();
  assert.equal(r.range, null);
});

test('settings travel in the address fragment and back; bad values are named, not applied', () => {
  const s = { ...defaults(), colour: 'height', size: 3.5, decay: 1, range: [-2, 4.25],
    camera: { position: [-28, -6, 22], target: [6, 0, -1.7] } };
  const text = toFragment(s);
  assert.equal(text, 'colour=height&size=3.5&decay=1&range=-2,4.25&cam=-28,-6,22,6,0,-1.7');
  const back = fromFragment(`#${text}`);
  assert.deepEqual(back.problems, []);
  assert.deepEqual(back.settings, { colour: 'height', size: 3.5, decay: 1, range: [-2, 4.25], camera: s.camera });
  const bad = fromFragment('colour=purple&size=99&decay=-1&range=4,2&cam=1,2,3,1,2,3&cam2=x');
  assert.deepEqual(bad.settings, {});
  assert.deepEqual(bad.problems, ['colour=purple', 'size=99', 'decay=-1', 'range=4,2', 'cam=1,2,3,1,2,3']);
  assert.deepEqual(fromFragment('range=1,&cam=1,2,3,4,5,1e9').problems, ['range=1,', 'cam=1,2,3,4,5,1e9']);
});

function memoryStorage(initial) {
  const map = new Map(initial ? [['pointStream.settings', initial]] : []);
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => map.set(k, v) };
}

test('stored settings come back, the address wins over them, and junk in storage is ignored', () => {
  const stored = JSON.stringify({ colour: 'range', size: 4, decay: 2, range: [1, 30], hudFolded: true,
    camera: { position: [1, 2, 3], target: [0, 0, 0] } });
  assert.deepEqual(fromStorage(memoryStorage(stored)), { colour: 'range', size: 4, decay: 2, range: [1, 30],
    camera: { position: [1, 2, 3], target: [0, 0, 0] }, hudFolded: true });
  const { settings } = initialSettings(memoryStorage(stored), '#size=2');
  assert.equal(settings.size, 2);
  assert.deepEqual(settings.range, [1, 30]); // the same colour mode: the stored range stays
  // a shared view of another mode does not take this browser's range for its values
  assert.equal(initialSettings(memoryStorage(stored), '#colour=height').settings.range, null);
  for (const junk of ['{', '"text"', 'null', JSON.stringify({ colour: 7, size: 'big', range: 'x', camera: [] })]) {
    assert.deepEqual(initialSettings(memoryStorage(junk), '').settings, defaults(), junk);
  }
});

test('shortcuts: each key is listed once; typing in a field or with a modifier is not a shortcut', () => {
  const keys = SHORTCUTS.map(([k]) => k);
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(actionFor({ key: '2', target: { tagName: 'CANVAS' } }), 'view:top');
  assert.equal(actionFor({ key: '2', target: { tagName: 'INPUT' } }), null);
  assert.equal(actionFor({ key: 's', ctrlKey: true, target: null }), null);
  assert.equal(actionFor({ key: 'q', target: null }), null);
});
