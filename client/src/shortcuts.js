// Keyboard shortcuts: one table, which both the key handler and the help overlay read.

/** [key, action, what the help says]. */
export const SHORTCUTS = Object.freeze([
  ['1', 'view:orbit', 'orbit: the camera turns around the scene'],
  ['2', 'view:top', 'top-down'],
  ['3', 'view:follow', 'follow the sensor: behind it, looking ahead'],
  ['0', 'view:reset', 'reset the camera'],
  ['c', 'colour', 'next colour mode'],
  ['[', 'smaller', 'smaller points'],
  [']', 'larger', 'larger points'],
  ['d', 'decay', 'next decay time (older frames fade out)'],
  ['p', 'pause', 'pause or resume the stream'],
  ['s', 'screenshot', 'save a screenshot (PNG)'],
  ['f', 'fullscreen', 'fullscreen on or off'],
  ['h', 'hud', 'fold or unfold the HUD'],
  ['Escape', 'clear', 'forget the picked points'],
  ['?', 'help', 'this help'],
]);

/** The action a key press asks for, or null (typing in a field, or with a modifier, is not a shortcut). */
export function actionFor(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  const target = event.target;
  if (target && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA')) return null;
  const row = SHORTCUTS.find(([key]) => key === event.key);
  return row ? row[1] : null;
}

/** Fill the help overlay's table from SHORTCUTS. */
export function fillHelp(table) {
  for (const [key, , help] of SHORTCUTS) {
    const tr = table.insertRow();
    const kbd = document.createElement('kbd');
    kbd.textContent = key === 'Escape' ? 'Esc' : key;
    tr.insertCell().append(kbd);
    tr.insertCell().textContent = help;
  }
}
