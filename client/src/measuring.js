// Click (or tap) a point: its coordinates, range and intensity; a second: the distance between the two.
// A drag orbits the camera and picks nothing.
import { Measure, pickPoint, pointAt } from './picking.js';

const CLICK_SLOP_PX = 5; // a press that moved more than this is a drag
const PICK_RADIUS_PX = 8;

const fmt = (v) => v.toFixed(2);

export class Measuring {
  /**
   * @param {HTMLElement} panel the #pick panel
   * @param {() => import('./scene.js').PointScene|undefined} scene
   * @param {(picked: object[], distance: number|null) => void} onChange
   */
  constructor(panel, scene, onChange) {
    this.panel = panel;
    this.scene = scene;
    this.onChange = onChange;
    this.measure = new Measure();
    this.down = null;
    panel.querySelector('[data-pick=clear]').addEventListener('click', () => this.clear());
  }

  /** Listen on the scene's canvas (once it exists). */
  attach(canvas) {
    canvas.addEventListener('pointerdown', (ev) => {
      this.down = { x: ev.clientX, y: ev.clientY, id: ev.pointerId };
    });
    canvas.addEventListener('pointerup', (ev) => {
      const d = this.down;
      this.down = null;
      if (!d || d.id !== ev.pointerId || Math.hypot(ev.clientX - d.x, ev.clientY - d.y) > CLICK_SLOP_PX) return;
      const rect = canvas.getBoundingClientRect();
      this.pickAt(ev.clientX - rect.left, ev.clientY - rect.top, rect.width, rect.height);
    });
  }

  /** Pick the point drawn nearest (x, y) in CSS pixels of a canvas of that size; returns it or null. */
  pickAt(x, y, width, height) {
    const scene = this.scene();
    const frame = scene?.shownFrame;
    if (!frame) return null;
    const index = pickPoint(frame.points, frame.framePoints, scene.viewProjection(), width, height, x, y, PICK_RADIUS_PX);
    if (index < 0) return null;
    const point = pointAt(frame.points, index);
    this.measure.add(point);
    this.update();
    return point;
  }

  clear() {
    this.measure.clear();
    this.update();
  }

  update() {
    const { picked, distance } = this.measure;
    this.scene()?.setMarkers(picked);
    this.panel.hidden = picked.length === 0;
    const rows = picked.map((p, i) => `<tr><td>${'AB'[i]}</td><td>${fmt(p.x)}, ${fmt(p.y)}, ${fmt(p.z)} m</td>`
      + `<td>${fmt(p.range)} m</td><td>${p.intensity.toFixed(3)}</td></tr>`);
    this.panel.querySelector('tbody').innerHTML = rows.join('');
    this.panel.querySelector('[data-pick=distance]').textContent = distance === null
      ? 'click a second point to measure' : `A → B: ${distance.toFixed(3)} m`;
    this.onChange(picked, distance);
  }
}
