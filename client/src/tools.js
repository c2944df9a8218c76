// The viewer's tools and their controls: colour mode and range (legend), point size, decay, camera views,
// picking and measuring, screenshot, fullscreen, the folding HUD, keyboard shortcuts and their help. Every
// setting goes through ViewSettings, so it survives a reload and the address shares it.
import { Legend } from './legend.js';
import { Measuring } from './measuring.js';
import { COLOUR_MODES, POINT_SIZE, storedBefore } from './settings.js';
import { actionFor, fillHelp } from './shortcuts.js';

const NARROW_PX = 600; // a phone: the HUD starts folded unless the user unfolded it before
const SIZE_STEP = 0.5;

export class Tools {
  /**
   * @param {Document} doc
   * @param {import('./view_settings.js').ViewSettings} settings
   * @param {{scene: () => (import('./scene.js').PointScene|undefined), colourRange: import('./colormap.js').ColourRange,
   *   status: object, pause: () => void}} viewer
   */
  constructor(doc, settings, { scene, colourRange, status, pause }) {
    this.doc = doc;
    this.settings = settings;
    this.scene = scene;
    this.colourRange = colourRange;
    this.status = status;
    this.pause = pause;
    this.el = (id) => doc.getElementById(id);
    this.hud = this.el('hud');
    this.legend = new Legend(this.el('legend'), {
      onFix: (lo, hi) => {
        colourRange.fix(lo, hi);
        this.applyRange();
      },
      onRelease: () => {
        colourRange.release();
        this.applyRange();
      },
    });
    this.measuring = new Measuring(this.el('pick'), scene, (picked, distance) => {
      status.picked = picked;
      status.distance = distance;
    });
    fillHelp(this.el('help').querySelector('table'));
    this.bind();
    this.applyToControls();
  }

  get values() {
    return this.settings.settings;
  }

  /** The settings shown by the page's controls (before the scene exists). */
  applyToControls() {
    const s = this.values;
    this.el('color-mode').value = s.colour;
    this.el('point-size').value = String(s.size);
    this.ensureDecayOption(s.decay);
    this.el('decay').value = String(s.decay);
    this.status.colorMode = s.colour;
    this.status.decay = s.decay;
    const firstVisit = !storedBefore(this.settings.storage);
    const folded = s.hudFolded || (this.doc.defaultView.innerWidth <= NARROW_PX && firstVisit);
    this.fold(folded, false);
  }

  /** A decay time from the address that the menu does not list gets an entry of its own. */
  ensureDecayOption(seconds) {
    const select = this.el('decay');
    if ([...select.options].some((o) => Number(o.value) === seconds)) return;
    select.add(new Option(`${seconds} s`, String(seconds)));
  }

  /** The scene is up: give it the settings. */
  sceneReady(scene) {
    const s = this.values;
    scene.setColorMode(s.colour);
    scene.setPointSize(s.size);
    scene.setDecay(s.decay);
    if (s.camera) scene.setView(s.camera);
    if (this.colourRange.range) scene.setColourRange(...this.colourRange.range);
    scene.controls.addEventListener('end', () => this.settings.update({ camera: scene.view }));
    this.measuring.attach(scene.renderer.domElement);
  }

  bind() {
    const colour = this.el('color-mode');
    colour.addEventListener('change', () => this.setColour(colour.value));
    const size = this.el('point-size');
    size.addEventListener('input', () => this.setSize(Number(size.value)));
    const decay = this.el('decay');
    decay.addEventListener('change', () => this.setDecay(Number(decay.value)));
    for (const button of this.doc.querySelectorAll('[data-view]')) {
      button.addEventListener('click', () => this.setView(button.dataset.view));
    }
    this.el('screenshot').addEventListener('click', () => this.screenshot());
    this.el('fullscreen').addEventListener('click', () => this.toggleFullscreen());
    this.el('help-button').addEventListener('click', () => this.toggleHelp());
    this.el('help').querySelector('[data-help=close]').addEventListener('click', () => this.toggleHelp(false));
    this.el('hud-fold').addEventListener('click', () => this.fold(this.hud.dataset.folded !== 'true'));
    this.doc.addEventListener('fullscreenchange', () => {
      this.el('fullscreen').setAttribute('aria-pressed', String(Boolean(this.doc.fullscreenElement)));
    });
    this.doc.addEventListener('keydown', (ev) => {
      const action = actionFor(ev);
      if (!action) return;
      ev.preventDefault();
      this.run(action);
    });
  }

  /** A shortcut's action (shortcuts.js). */
  run(action) {
    const s = this.values;
    if (action.startsWith('view:')) this.setView(action.slice(5));
    else if (action === 'colour') this.setColour(COLOUR_MODES[(COLOUR_MODES.indexOf(s.colour) + 1) % COLOUR_MODES.length]);
    else if (action === 'smaller' || action === 'larger') {
      const size = Math.min(POINT_SIZE.max, Math.max(POINT_SIZE.min, s.size + (action === 'larger' ? SIZE_STEP : -SIZE_STEP)));
      this.el('point-size').value = String(size);
      this.setSize(size);
    } else if (action === 'decay') {
      const options = [...this.el('decay').options].map((o) => Number(o.value));
      this.setDecay(options[(options.indexOf(s.decay) + 1) % options.length]);
    } else if (action === 'pause') this.pause();
    else if (action === 'screenshot') this.screenshot();
    else if (action === 'fullscreen') this.toggleFullscreen();
    else if (action === 'hud') this.fold(this.hud.dataset.folded !== 'true');
    else if (action === 'clear') {
      this.measuring.clear();
      this.toggleHelp(false);
    } else if (action === 'help') this.toggleHelp();
  }

  setColour(mode) {
    this.el('color-mode').value = mode;
    this.status.colorMode = mode;
    this.colourRange.reset(); // another kind of value: fit anew
    this.scene()?.setColorMode(mode);
    this.settings.update({ colour: mode, range: null });
    this.refresh();
  }

  setSize(px) {
    this.scene()?.setPointSize(px);
    this.settings.update({ size: px });
  }

  setDecay(seconds) {
    this.el('decay').value = String(seconds);
    this.status.decay = seconds;
    this.scene()?.setDecay(seconds);
    this.settings.update({ decay: seconds });
  }

  setView(name) {
    const scene = this.scene();
    if (!scene) return;
    scene.setView(name);
    this.status.view = name;
    for (const b of this.doc.querySelectorAll('[data-view]')) b.setAttribute('aria-pressed', String(b.dataset.view === name && name === 'orbit'));
    this.settings.update({ camera: scene.view });
  }

  /** The colour range changed by the user (fixed or released). */
  applyRange() {
    const { range, fixed } = this.colourRange;
    if (range) this.scene()?.setColourRange(...range);
    this.settings.update({ range: fixed ? range : null });
    this.refresh();
  }

  /** Refresh what shows the range (a few times a second, not per frame). */
  refresh() {
    const { range, fixed } = this.colourRange;
    this.status.colourRange = range;
    this.status.colourRangeFixed = fixed;
    this.status.camera = this.scene()?.view ?? null;
    const frame = this.scene()?.shownFrame;
    this.legend.show(this.values.colour, range, fixed, Boolean(frame && frame.colours));
  }

  fold(folded, save = true) {
    this.hud.dataset.folded = String(folded);
    const button = this.el('hud-fold');
    button.setAttribute('aria-expanded', String(!folded));
    button.textContent = folded ? '+' : '–';
    if (save) this.settings.update({ hudFolded: folded });
  }

  async screenshot() {
    const scene = this.scene();
    if (!scene) return;
    const blob = await scene.screenshot();
    const url = URL.createObjectURL(blob);
    const a = this.doc.createElement('a');
    a.href = url;
    a.download = `pointcloud-${new Date().toISOString().replace(/[:.]/g, '-')}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    this.status.screenshots += 1;
  }

  async toggleFullscreen() {
    try {
      if (this.doc.fullscreenElement) await this.doc.exitFullscreen();
      else await this.doc.documentElement.requestFullscreen();
    } catch (err) {
      console.info(`fullscreen: ${err.message}`); // refused (no user gesture, or the browser does not allow it)
    }
  }

  toggleHelp(show = this.el('help').hidden) {
    this.el('help').hidden = !show;
  }
}
