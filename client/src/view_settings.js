// The settings in use: applied to the scene as it comes up, kept in local storage, and written to the
// address's fragment (replaceState, a moment after the last change) so the address shares the view.
import { initialSettings, toFragment, toStorage } from './settings.js';

const SAVE_DELAY_MS = 300;

export class ViewSettings {
  /**
   * @param {Storage|null} storage
   * @param {Location} location
   * @param {History} history
   */
  constructor(storage, location = window.location, history = window.history) {
    this.storage = storage;
    this.location = location;
    this.history = history;
    const { settings, problems } = initialSettings(storage ?? { getItem: () => null }, location.hash);
    /** @type {import('./settings.js').Settings} */
    this.settings = settings;
    /** Parts of the address's fragment that were not settings (shown in the HUD). */
    this.problems = problems;
    this.timer = null;
  }

  /** Change some settings; saved shortly after. */
  update(changes) {
    Object.assign(this.settings, changes);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), SAVE_DELAY_MS);
  }

  save() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.storage) toStorage(this.storage, this.settings);
    const url = new URL(this.location.href);
    url.hash = toFragment(this.settings);
    this.history.replaceState(this.history.state, '', url.pathname + url.search + url.hash);
  }
}
