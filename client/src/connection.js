// WebRTC connection to the streamer: fetches ICE servers, opens the two data channels, sends the
// offer, and reconnects by itself (with backoff) when the connection fails or the server restarts.
// Behind an SFU (the server's /config says so) the same connection goes through Janus (sfu.js).
import { FallbackConnection } from './fallback.js';
import { startViaSfu } from './sfu.js';

/** Longest control message the client parses (the server's are a few hundred bytes). */
const MAX_CONTROL_TEXT = 64 * 1024;
/** Deepest nesting of arrays and objects a control message may have (the server's bound too). */
export const MAX_CONTROL_DEPTH = 32;

/**
 * How deep arrays and objects nest in a JSON text, counting brackets outside strings; linear, no recursion.
 * @param {string} text
 * @returns {number}
 */
export function nestingDepth(text) {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') deepest = Math.max(deepest, ++depth);
    else if (c === ']' || c === '}') depth -= 1;
  }
  return deepest;
}

/** Points: unordered, no retransmissions: a lost chunk costs its points and never stalls the stream. */
export const POINTS_CHANNEL_OPTIONS = Object.freeze({ ordered: false, maxRetransmits: 0 });

/**
 * What both transports share: state events, control-text parsing, reconnect with backoff, stop.
 * Subclasses implement ``start()`` (open the transport), ``teardown()`` and ``sendControl()``.
 */
export class ReconnectingConnection extends EventTarget {
  /**
   * @param {{baseUrl?: string, onPoints:(data:ArrayBuffer)=>void, onControl:(msg:object)=>void}} opts
   */
  constructor({ baseUrl = '', onPoints, onControl }) {
    super();
    this.baseUrl = baseUrl;
    this.onPoints = onPoints;
    this.onControl = onControl;
    this.state = 'idle';
    this.attempt = 0;
    this.retryTimer = null;
    this.stopped = false;
    /** Control messages ignored because they were not JSON objects with a type. */
    this.controlErrors = 0;
    /** Takes a parsed control message first when set (the SFU's signaling, sfu.js); true if it handled it. */
    this.interceptControl = null;
  }

  setState(state, detail = '') {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  /** The transport is up: reset the backoff. */
  opened() {
    this.attempt = 0;
    this.setState('open');
  }

  /** A control message arrived as JSON text; anything but a JSON object with a string type, within the size
   * and nesting bounds, is ignored and counted. */
  controlText(text) {
    let msg;
    try {
      const bounded = typeof text === 'string' && text.length <= MAX_CONTROL_TEXT && nestingDepth(text) <= MAX_CONTROL_DEPTH;
      msg = bounded ? JSON.parse(text) : null;
    } catch {
      msg = null;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') {
      this.controlErrors += 1;
      return;
    }
    if (this.interceptControl && this.interceptControl(msg)) return;
    this.onControl(msg);
  }

  scheduleRetry(reason) {
    if (this.stopped || this.retryTimer) return;
    this.teardown();
    const delay = Math.min(5000, 250 * 2 ** this.attempt);
    this.attempt += 1;
    this.setState('reconnecting', `${reason}; retry in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.start();
    }, delay);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.teardown();
    this.setState('closed');
  }
}

export class StreamConnection extends ReconnectingConnection {
  constructor(opts) {
    super(opts);
    this.pc = null;
    this.control = null;
    this.points = null;
    this.connectStarted = 0;
    this.pointsOptions = POINTS_CHANNEL_OPTIONS;
    /** Milliseconds since start() at each connection step, for diagnosing slow starts. */
    this.timings = {};
    /** Through the SFU: the WebSocket carrying signaling and control (sfu.js); null on a direct connection. */
    this.controlSocket = null;
    this.viaSfu = false;
    /** The server's last /config (its ICE servers; ``sfu``; ``websocket: false`` where it has no /ws). */
    this.serverConfig = null;
    /** Through the SFU: the tier (mountpoint) this viewer is on and its share of each frame. */
    this.tier = null;
  }

  /** Record a connection step; listeners get a 'step' event (detail: the step's name). */
  mark(step) {
    this.timings[step] = Math.round(performance.now() - this.connectStarted);
    this.dispatchEvent(new CustomEvent('step', { detail: step }));
  }

  async start() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.teardown();
    this.connectStarted = performance.now();
    this.timings = {};
    this.setState('connecting');
    try {
      const cfg = await this.fetchJson('/config');
      this.serverConfig = cfg;
      if (cfg.sfu && this.pointsOptions === POINTS_CHANNEL_OPTIONS) {
        startViaSfu(this, cfg, waitIceGathering);
        return;
      }
      this.mark('config');
      const pc = new RTCPeerConnection({
        iceServers: cfg.iceServers || [],
        iceTransportPolicy: cfg.iceTransportPolicy === 'relay' ? 'relay' : 'all',
      });
      this.pc = pc;
      this.control = pc.createDataChannel('control');
      this.points = pc.createDataChannel('points', this.pointsOptions);
      this.points.binaryType = 'arraybuffer';
      this.points.onmessage = (ev) => this.onPoints(ev.data);
      this.control.onmessage = (ev) => this.controlText(ev.data);
      this.control.onopen = () => {
        this.mark('open');
        this.opened();
      };
      this.control.onclose = () => this.scheduleRetry('control channel closed');
      this.watchPeer(pc);
      await pc.setLocalDescription(await pc.createOffer());
      this.mark('offer');
      await waitIceGathering(pc, 2000, { hostOnly: !(cfg.iceServers || []).length });
      this.mark('gathered');
      const answer = await this.fetchJson('/offer', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
      });
      this.mark('answered');
      await pc.setRemoteDescription(answer);
      this.mark('checking'); // both descriptions are set: ICE, DTLS and SCTP run off the page's main thread now
    } catch (err) {
      this.scheduleRetry(err.message || String(err));
    }
  }

  async fetchJson(path, init) {
    const resp = await fetch(this.baseUrl + path, init);
    let body = null;
    try {
      body = await resp.json();
    } catch {
      /* not JSON */
    }
    if (!resp.ok) throw new Error(`${path}: ${resp.status} ${(body && body.error) || resp.statusText}`);
    return body;
  }

  /** Retry when ``pc`` fails or closes; say when it is disconnected (it may come back by itself). */
  watchPeer(pc) {
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === 'failed' || s === 'closed') this.scheduleRetry(`connection ${s}`);
      else if (s === 'disconnected') this.setState('disconnected');
    };
  }

  sendControl(message) {
    const text = JSON.stringify(message);
    if (this.controlSocket) {
      if (this.controlSocket.readyState === WebSocket.OPEN) this.controlSocket.send(text);
    } else if (this.control && this.control.readyState === 'open') this.control.send(text);
  }

  /**
   * The network path in use, from the selected ICE candidate pair: candidate types (host, srflx,
   * prflx, relay), protocol, and the TURN transport when relayed. null before a pair is selected.
   */
  async path() {
    if (!this.pc) return null;
    const path = await selectedPath(this.pc);
    if (path && this.viaSfu) {
      path.via = 'SFU';
      path.tier = this.tier;
    }
    return path;
  }

  teardown() {
    const pc = this.pc;
    this.pc = null;
    if (this.controlSocket) {
      this.controlSocket.onclose = null;
      this.controlSocket.close();
      this.controlSocket = null;
      this.interceptControl = null;
    }
    if (this.control) this.control.onclose = null;
    this.control = null;
    this.points = null;
    if (pc) {
      pc.onconnectionstatechange = null;
      pc.close();
    }
  }
}

/** The selected ICE candidate pair of ``pc`` as the HUD shows it (see StreamConnection.path), or null. */
export async function selectedPath(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  if (!local || !remote) return null;
  return {
    local: local.candidateType, remote: remote.candidateType, protocol: local.protocol,
    relayProtocol: local.candidateType === 'relay' ? local.relayProtocol || null : null,
    localAddress: `${local.address}:${local.port}`, remoteAddress: `${remote.address}:${remote.port}`,
  };
}

/** After the first host candidate, how long the others of the same burst get when no STUN or TURN server
 * was given (host candidates are all there is then, and they come together). */
const HOST_SETTLE_MS = 30;

/**
 * Wait until ICE gathering completes (the server does not trickle), at most ``ms``; with ``hostOnly`` (no STUN
 * or TURN servers), only until the host candidates are in: Chromium declares gathering complete 130 ms later
 * on an idle machine, and 400–700 ms later while the page builds its WebGL scene.
 */
export function waitIceGathering(pc, ms, { hostOnly = false } = {}) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    let settle = null;
    function done() {
      clearTimeout(timer);
      clearTimeout(settle);
      pc.removeEventListener('icegatheringstatechange', check);
      pc.removeEventListener('icecandidate', candidate);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === 'complete') done();
    }
    function candidate(ev) {
      if (hostOnly && ev.candidate && !settle) settle = setTimeout(done, HOST_SETTLE_MS);
    }
    pc.addEventListener('icegatheringstatechange', check);
    pc.addEventListener('icecandidate', candidate);
    if (pc.localDescription && pc.localDescription.sdp.includes('a=candidate')) candidate({ candidate: true }); // already in
  });
}

/**
 * The fallback transport: point chunks (binary) and control messages (text) over one WebSocket to
 * ``/ws``. TCP: ordered and reliable, so a lost packet delays everything behind it; use it where UDP
 * is blocked. Same interface and reconnect behaviour as StreamConnection.
 */
export class WebSocketConnection extends ReconnectingConnection {
  constructor(opts) {
    super(opts);
    this.ws = null;
  }

  start() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.teardown();
    this.setState('connecting');
    const base = this.baseUrl || window.location.origin;
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.opened();
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') this.controlText(ev.data);
      else this.onPoints(ev.data);
    };
    ws.onclose = () => this.scheduleRetry('websocket closed');
  }

  sendControl(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  teardown() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close();
    }
  }
}

/**
 * Where the page signals: ``/view/NAME`` on a rendezvous signaling server (server.py signal) asks
 * ``/view/NAME/config`` and ``/view/NAME/offer``; anywhere else, the single-host streamer's
 * ``/config`` and ``/offer``. Returns the stream name too (null for single-host).
 */
export function signalingBase(pathname) {
  const m = /^\/view\/([^/]+)\/?$/.exec(pathname);
  if (!m) return { baseUrl: '', stream: null };
  return { baseUrl: `/view/${m[1]}`, stream: decodeURIComponent(m[1]) };
}

/**
 * The connection the page asks for. By default the product's unordered, unreliable WebRTC channel, falling
 * back to the WebSocket when WebRTC cannot connect (fallback.js). ``?transport=websocket`` or
 * ``?transport=webrtc`` forces one; ``?reliable=1`` asks for an ordered, reliable point channel (comparison
 * only). Through a rendezvous server only WebRTC exists: point data never passes through the signaling server.
 */
export function connectionFromLocation(location, handlers) {
  const params = new URLSearchParams(location.search);
  const { baseUrl } = signalingBase(location.pathname);
  const transport = params.get('transport');
  if (transport === 'websocket' && !baseUrl) return new WebSocketConnection(handlers);
  if (params.get('reliable') === '1') {
    const conn = new StreamConnection({ ...handlers, baseUrl });
    conn.pointsOptions = { ordered: true };
    return conn;
  }
  if (baseUrl || transport === 'webrtc') return new StreamConnection({ ...handlers, baseUrl });
  return new FallbackConnection((h) => new StreamConnection(h), (h) => new WebSocketConnection(h), handlers);
}
