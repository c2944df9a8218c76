// The viewer's settings: colour mode and range, point size, decay, camera, HUD folded or not. They survive a
// reload (local storage) and travel in the address's fragment to share a view
// (#colour=height&range=-2,4&size=3&decay=1&cam=px,py,pz,tx,ty,tz). The fragment wins over local storage;
// a value that does not parse is ignored and reported, never applied half-way.

export const COLOUR_MODES = Object.freeze(['intensity', 'height', 'range', 'source']);
export const POINT_SIZE = Object.freeze({ min: 1, max: 6 });
export const MAX_DECAY_S = 10;
const STORAGE_KEY = 'pointStream.settings';
const BOUND = 1e5; // metres; a camera or range beyond this is a typo, not a view

/**
 * @typedef {{colour: string, size: number, decay: number, range: ([number, number]|null),
 *   camera: ({position: number[], target: number[]}|null), hudFolded: boolean}} Settings
 */

/** @returns {Settings} */
export function defaults() {
  return { colour: 'intensity', size: 2, decay: 0, range: null, camera: null, hudFolded: false };
}

function numbers(text, n) {
  const parts = String(text).split(',');
  if (parts.length !== n) return null;
  const values = parts.map((p) => (p.trim() === '' ? NaN : Number(p)));
  return values.every((v) => Number.isFinite(v) && Math.abs(v) <= BOUND) ? values : null;
}

/** Each setting's check: the value to apply, or undefined when ``raw`` is not one. */
const CHECK = {
  colour: (raw) => (COLOUR_MODES.includes(raw) ? raw : undefined),
  size: (raw) => {
    const v = Number(raw);
    return raw !== '' && v >= POINT_SIZE.min && v <= POINT_SIZE.max ? v : undefined;
  },
  decay: (raw) => {
    const v = Number(raw);
    return raw !== '' && v >= 0 && v <= MAX_DECAY_S ? v : undefined;
  },
  range: (raw) => {
    const v = numbers(raw, 2);
    return v && v[1] > v[0] ? v : undefined;
  },
  camera: (raw) => {
    const v = numbers(raw, 6);
    if (!v) return undefined;
    const [px, py, pz, tx, ty, tz] = v;
    return Math.hypot(px - tx, py - ty, pz - tz) > 1e-3 ? { position: [px, py, pz], target: [tx, ty, tz] } : undefined;
  },
  hudFolded: (raw) => (raw === true || raw === false ? raw : undefined),
};

/** The fragment's name for each setting that can be shared. */
const IN_FRAGMENT = { colour: 'colour', size: 'size', decay: 'decay', range: 'range', camera: 'cam' };

/**
 * The settings a fragment (``#colour=height&...``, with or without the ``#``) sets.
 * @returns {{settings: Partial<Settings>, problems: string[]}}
 */
export function fromFragment(fragment) {
  const params = new URLSearchParams(fragment.replace(/^#/, ''));
  const settings = {};
  const problems = [];
  for (const [name, key] of Object.entries(IN_FRAGMENT)) {
    if (!params.has(key)) continue;
    const value = CHECK[name](params.get(key));
    if (value === undefined) problems.push(`${key}=${params.get(key)}`);
    else settings[name] = value;
  }
  return { settings, problems };
}

const round = (v) => String(Math.round(v * 1000) / 1000);

/** The fragment that carries ``settings``' shareable values (without the ``#``). */
export function toFragment(settings) {
  const params = new URLSearchParams();
  params.set('colour', settings.colour);
  params.set('size', round(settings.size));
  if (settings.decay) params.set('decay', round(settings.decay));
  if (settings.range) params.set('range', settings.range.map(round).join(','));
  if (settings.camera) params.set('cam', [...settings.camera.position, ...settings.camera.target].map(round).join(','));
  return params.toString().replaceAll('%2C', ',');
}

/** The settings stored by a previous visit (only the values that still check out). */
export function fromStorage(storage) {
  let stored;
  try {
    stored = JSON.parse(storage.getItem(STORAGE_KEY) || '{}');
  } catch {
    return {};
  }
  if (!stored || typeof stored !== 'object') return {};
  const settings = {};
  for (const [name, check] of Object.entries(CHECK)) {
    let raw = stored[name];
    if (raw === undefined || raw === null) continue;
    if (name === 'range' && Array.isArray(raw)) raw = raw.join(',');
    if (name === 'camera' && raw.position && raw.target) raw = [...raw.position, ...raw.target].join(',');
    if (name === 'size' || name === 'decay') raw = String(raw);
    const value = check(raw);
    if (value !== undefined) settings[name] = value;
  }
  return settings;
}

/** Whether this browser stored settings before (a first visit has none). */
export function storedBefore(storage) {
  try {
    return Boolean(storage && storage.getItem(STORAGE_KEY));
  } catch {
    return false;
  }
}

export function toStorage(storage, settings) {
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify(settings));
  } catch {
    /* storage full or disabled (private windows): the settings just do not survive a reload */
  }
}

/**
 * The settings to start with: defaults, then what was stored, then what the address's fragment says.
 * @returns {{settings: Settings, problems: string[]}}
 */
export function initialSettings(storage, fragment) {
  const shared = fromFragment(fragment);
  const stored = fromStorage(storage);
  // a fixed range is a range of one mode's values: a shared view's mode does not take a stored range
  if (shared.settings.colour && shared.settings.colour !== stored.colour) delete stored.range;
  return { settings: { ...defaults(), ...stored, ...shared.settings }, problems: shared.problems };
}
