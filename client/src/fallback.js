// When WebRTC cannot connect: the streamer answered the offer, but no path came up (UDP blocked, no TURN).
// Single-host, the page then streams over the WebSocket by itself, says so, and tries WebRTC again later in
// the background, moving back to it once it opens. Through a rendezvous server there is no WebSocket for
// points (point data never passes through the signaling server): the page says why it cannot connect.

/** After the streamer's answer, how long WebRTC gets to open before the page falls back. */
export const FALLBACK_AFTER_MS = 5000;
/** First wait before trying WebRTC again from the WebSocket; doubles up to RETRY_MAX_MS. */
export const RETRY_FIRST_MS = 30000;
export const RETRY_MAX_MS = 300000;

export const NO_PATH_REASON = 'no network path to the streamer came up (UDP blocked?). Its operator can offer '
  + 'TURN over TCP or TLS (docs/deploy.md)';

/**
 * Runs a WebRTC connection and, when it does not come up, a WebSocket one; the page sees one connection
 * (the same events and fields as either).
 */
export class FallbackConnection extends EventTarget {
  /**
   * @param {(handlers: object) => EventTarget} makeWebRtc a StreamConnection with these handlers
   * @param {(handlers: object) => EventTarget} makeWebSocket a WebSocketConnection with these handlers
   * @param {{onPoints: Function, onControl: Function}} handlers
   * @param {{fallbackAfterMs?: number, retryFirstMs?: number, retryMaxMs?: number}} [timing]
   */
  constructor(makeWebRtc, makeWebSocket, handlers, timing = {}) {
    super();
    this.makeWebRtc = makeWebRtc;
    this.makeWebSocket = makeWebSocket;
    this.handlers = handlers;
    this.fallbackAfterMs = timing.fallbackAfterMs ?? FALLBACK_AFTER_MS;
    this.retryFirstMs = timing.retryFirstMs ?? RETRY_FIRST_MS;
    this.retryMaxMs = timing.retryMaxMs ?? RETRY_MAX_MS;
    this.retryMs = this.retryFirstMs;
    /** The connection whose points and control messages the page gets. */
    this.active = null;
    /** A WebRTC attempt running in the background while the WebSocket streams. */
    this.probe = null;
    /** Why the page is on the WebSocket, or null while on WebRTC. */
    this.fallbackReason = null;
    this.fallbackTimer = null;
    this.retryTimer = null;
  }

  get state() { return this.active ? this.active.state : 'idle'; }
  get points() { return this.active?.points ?? null; }
  get viaSfu() { return Boolean(this.active?.viaSfu); }
  get timings() { return this.active?.timings; }
  get controlErrors() { return this.active?.controlErrors ?? 0; }
  /** On WebRTC, the selected candidate pair (the HUD's path row); on the WebSocket there is none. */
  get path() { return this.active && this.active.path ? () => this.active.path() : null; }

  sendControl(message) {
    this.active?.sendControl(message);
  }

  /** Handlers that deliver only while ``conn`` is the active connection. */
  routed(getConn) {
    return {
      onPoints: (data) => { if (getConn() === this.active) this.handlers.onPoints(data); },
      onControl: (msg) => { if (getConn() === this.active) this.handlers.onControl(msg); },
    };
  }

  start() {
    this.useWebRtc(this.newWebRtc());
  }

  newWebRtc() {
    let conn = null;
    conn = this.makeWebRtc(this.routed(() => conn));
    return conn;
  }

  /** Make ``conn`` (WebRTC) the active connection, watching that it comes up after the streamer's answer. */
  useWebRtc(conn) {
    this.active = conn;
    this.fallbackReason = null;
    this.forward(conn);
    conn.addEventListener('step', (ev) => {
      if (ev.detail === 'answered' && !this.fallbackTimer && conn === this.active && conn.state !== 'open') {
        this.fallbackTimer = setTimeout(() => this.fallBack(conn), this.fallbackAfterMs);
      }
    });
    conn.addEventListener('state', (ev) => {
      if (ev.detail.state === 'open') this.clearFallbackTimer();
    });
    if (conn.state !== 'open') conn.start();
  }

  clearFallbackTimer() {
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = null;
  }

  /** WebRTC did not open in time: stream over the WebSocket, and try WebRTC again later. */
  fallBack(conn) {
    this.fallbackTimer = null;
    if (conn !== this.active || conn.state === 'open') return;
    if (conn.serverConfig && conn.serverConfig.websocket === false) return; // a relay node: points only via Janus
    this.active = null; // its closing is not the page's
    conn.stop();
    this.fallbackReason = `WebRTC did not connect within ${(this.fallbackAfterMs / 1000).toFixed(0)} s`;
    let ws = null;
    ws = this.makeWebSocket(this.routed(() => ws));
    this.active = ws;
    this.forward(ws);
    this.dispatchEvent(new CustomEvent('fallback', { detail: this.fallbackReason }));
    ws.start();
    this.scheduleProbe();
  }

  scheduleProbe() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.tryWebRtcAgain(), this.retryMs);
    this.retryMs = Math.min(this.retryMaxMs, this.retryMs * 2);
  }

  /** From the WebSocket: a WebRTC attempt in the background; it takes over when it opens. */
  tryWebRtcAgain() {
    this.retryTimer = null;
    const probe = this.newWebRtc();
    this.probe = probe;
    const giveUp = setTimeout(() => {
      if (this.probe !== probe) return;
      probe.stop();
      this.probe = null;
      this.scheduleProbe();
    }, this.fallbackAfterMs * 2);
    probe.addEventListener('state', (ev) => {
      if (ev.detail.state !== 'open' || this.probe !== probe) return;
      clearTimeout(giveUp);
      this.probe = null;
      const ws = this.active;
      this.retryMs = this.retryFirstMs;
      this.useWebRtc(probe); // points from the probe now reach the page
      ws.stop();
      this.dispatchEvent(new CustomEvent('state', { detail: { state: 'open', detail: 'back on WebRTC' } }));
    });
    probe.start();
  }

  /** The active connection's events are the page's. */
  forward(conn) {
    for (const type of ['state', 'step']) {
      conn.addEventListener(type, (ev) => {
        if (conn === this.active) this.dispatchEvent(new CustomEvent(type, { detail: ev.detail }));
      });
    }
  }

  stop() {
    this.clearFallbackTimer();
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.probe?.stop();
    this.probe = null;
    this.active?.stop();
  }
}
