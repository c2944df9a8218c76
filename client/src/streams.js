// The rendezvous server's front page: the live streams, refreshed every few seconds.
import { forgetTokenInAddress } from './address.js';

const REFRESH_MS = 2000;

const list = document.getElementById('streams');
const empty = document.getElementById('empty');
const error = document.getElementById('error');
document.getElementById('origin').textContent = window.location.origin;
forgetTokenInAddress();

/** Seconds → "3 s", "5 min", "2 h". */
function age(seconds) {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

async function refresh() {
  try {
    const resp = await fetch('/streams');
    if (!resp.ok) throw new Error(`${resp.status} ${resp.statusText}`);
    const { streams } = await resp.json();
    const now = Date.now() / 1000;
    list.replaceChildren(...streams.map((s) => {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = `/view/${encodeURIComponent(s.name)}`;
      link.textContent = s.name;
      const since = document.createElement('span');
      since.className = 'muted';
      since.textContent = ` · live for ${age(now - s.since)}`;
      item.append(link, since);
      return item;
    }));
    empty.hidden = streams.length > 0;
    error.hidden = true;
  } catch (err) {
    error.textContent = `cannot list streams: ${err.message}`;
    error.hidden = false;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
