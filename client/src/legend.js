// The colour legend: the map as a bar, the values at its ends, and inputs to fix the range (the range fits
// each frame by itself until then).
import { turboLut } from './colormap.js';

const UNITS = { intensity: '', height: ' m', range: ' m', source: '' };
const NAMES = { intensity: 'intensity', height: 'height z', range: 'range', source: 'intensity' };

export class Legend {
  /**
   * @param {HTMLElement} element the #legend panel
   * @param {{onFix: (lo: number, hi: number) => void, onRelease: () => void}} handlers
   */
  constructor(element, { onFix, onRelease }) {
    this.element = element;
    this.canvas = element.querySelector('canvas');
    this.lo = element.querySelector('[data-legend=lo]');
    this.hi = element.querySelector('[data-legend=hi]');
    this.name = element.querySelector('[data-legend=name]');
    this.fixed = element.querySelector('[data-legend=fixed]');
    this.paint();
    const fix = () => {
      const lo = Number(this.lo.value);
      const hi = Number(this.hi.value);
      if (this.lo.value !== '' && this.hi.value !== '' && hi > lo) {
        this.element.dataset.invalid = '';
        onFix(lo, hi);
      } else {
        this.element.dataset.invalid = 'true'; // shown in red; the range stays what it was
      }
    };
    this.lo.addEventListener('change', fix);
    this.hi.addEventListener('change', fix);
    this.fixed.addEventListener('change', () => (this.fixed.checked ? fix() : onRelease()));
  }

  paint() {
    const lut = turboLut(this.canvas.width);
    const ctx = this.canvas.getContext('2d');
    const image = ctx.createImageData(this.canvas.width, 1);
    image.data.set(lut);
    for (let y = 0; y < this.canvas.height; y++) ctx.putImageData(image, 0, y);
  }

  /** Show the range in use (values the user is typing are left alone) and whether it is fixed. */
  show(mode, range, fixed, hasColour) {
    this.element.dataset.mode = mode === 'source' && hasColour ? 'source' : 'map';
    this.name.textContent = mode === 'source' && hasColour ? 'source colours' : NAMES[mode] + UNITS[mode].replace(' ', ', ');
    this.fixed.checked = fixed;
    if (!range) return;
    const digits = mode === 'intensity' || mode === 'source' ? 3 : 2;
    for (const [input, value] of [[this.lo, range[0]], [this.hi, range[1]]]) {
      if (document.activeElement !== input) input.value = value.toFixed(digits);
    }
  }
}
