// Heads-up display: what the link is doing, refreshed a few times a second.

/** Rolling figures over the last few seconds of frames. */
export class LinkMeter {
  constructor(windowSeconds = 3) {
    this.windowSeconds = windowSeconds;
    this.frames = []; // {t, latencyMs?, bytes?, points?, chunks?, chunksReceived?}
  }

  addFrame(sample) {
    this.frames.push(sample);
    const cutoff = sample.t - this.windowSeconds;
    while (this.frames.length && this.frames[0].t < cutoff) this.frames.shift();
  }

  summary(now) {
    const f = this.frames.filter((x) => x.t >= now - this.windowSeconds);
    if (f.length === 0) return { fps: 0, latencyMs: null, lossPct: 0, mbps: 0, points: 0 };
    const span = Math.max(now - f[0].t, 1e-3);
    const lat = f.map((x) => x.latencyMs ?? 0).sort((a, b) => a - b);
    const chunks = f.reduce((a, x) => a + (x.chunks ?? 0), 0);
    const got = f.reduce((a, x) => a + (x.chunksReceived ?? 0), 0);
    return {
      fps: f.length > 1 ? (f.length - 1) / span : 0,
      latencyMs: lat[Math.floor(lat.length / 2)],
      lossPct: chunks ? (100 * (chunks - got)) / chunks : 0,
      mbps: f.length > 1 ? (f.slice(1).reduce((a, x) => a + (x.bytes ?? 0), 0) * 8) / span / 1e6 : 0,
      points: f[f.length - 1].points ?? 0,
      pointShare: f[f.length - 1].framePoints ? f[f.length - 1].points / f[f.length - 1].framePoints : 1,
    };
  }
}

export class Hud {
  /** @param {HTMLElement} element */
  constructor(element) {
    this.element = element;
    this.fields = {};
    this.notices = {};
    for (const el of element.querySelectorAll('[data-field]')) this.fields[el.dataset.field] = el;
  }

  set(name, text) {
    const el = this.fields[name];
    if (el && el.textContent !== text) el.textContent = text;
  }

  show({ state, summary, drawn, server, badChunks, decodeMs }) {
    this.set('state', state);
    this.set('fps', summary.fps.toFixed(1));
    this.set('drawn', drawn.fps.toFixed(1));
    this.set('latency', drawn.latencyMs === null ? '–' : `${drawn.latencyMs.toFixed(0)} ms`);
    this.set('loss', `${summary.lossPct.toFixed(1)} %`);
    this.set('mbps', summary.mbps.toFixed(1));
    this.set('points', `${summary.points.toLocaleString('en-US')} (${Math.round(100 * (summary.pointShare ?? 1))} %)`);
    this.set('fit', !server ? '–' : server.rateEstimateMbit
      ? `${server.rateEstimateMbit.toFixed(1)} Mbit/s · ${Math.round(100 * server.fittedShare)} % of the frame`
      : 'off: whole frames');
    this.set('skipped', server ? String(server.framesSkipped) : '–');
    this.set('bad', String(badChunks));
    if (decodeMs !== null && decodeMs !== undefined) this.set('decode', `${decodeMs.toFixed(1)} ms`);
    this.element.dataset.state = state;
  }

  /** The network path: ``relay (tcp) → srflx``; direct paths are marked as such. */
  showPath(path) {
    this.set('path', describePath(path));
    let kind = '';
    if (path && path.fallback) kind = 'fallback';
    else if (path) kind = path.local === 'relay' || path.remote === 'relay' ? 'relay' : 'direct';
    this.element.dataset.path = kind;
  }

  /** Lines under the figures saying what the viewer should know, one per ``topic`` (why it cannot connect,
   * what the address got wrong, ...); '' takes a topic's line away. */
  notice(topic, text) {
    this.notices = { ...this.notices, [topic]: text };
    const lines = Object.values(this.notices).filter(Boolean);
    this.set('notice', lines.join('\n'));
    if (this.fields.notice) this.fields.notice.hidden = lines.length === 0;
  }
}

/** ``host → srflx (direct)``, ``relay (tcp) → prflx``, or ``–`` without a selected pair. */
export function describePath(path) {
  if (!path) return '–';
  if (path.local === 'websocket') return path.fallback ? 'websocket (tcp), WebRTC fallback' : 'websocket (tcp)';
  const local = path.relayProtocol ? `${path.local} (${path.relayProtocol})` : path.local;
  const relayed = path.local === 'relay' || path.remote === 'relay';
  const share = path.tier && typeof path.tier.share === 'number' ? `, ${Math.round(path.tier.share * 100)} % tier` : '';
  const via = path.via ? ` via ${path.via}${share}` : '';
  return `${local} → ${path.remote}${relayed ? '' : ' (direct)'}${via}`;
}
