// Viewer entry point: wires the connection, the assembler, the scene and the HUD.
import { forgetTokenInAddress } from './address.js';
import { FrameAssembler } from './assembler.js';
import { ClockOffsetEstimator } from './clock.js';
import { connectionFromLocation, signalingBase } from './connection.js';
import { Hud, LinkMeter } from './hud.js';
import { PointScene } from './scene.js';

const PING_INTERVAL_MS = 1000;
const PATH_INTERVAL_MS = 2000;

let scene, hud, connection, assembler;
const clock = new ClockOffsetEstimator();
const received = new LinkMeter(); // frames as they are reassembled: rate, loss, bandwidth
const drawn = new LinkMeter(); // frames as they reach the screen: rate, capture-to-draw latency
const pings = new Map();
let pingId = 0;
let serverStats = null;
let hello = null;
let paused = false;

/** Exposed for tests and for curious users in the console. */
const status = {
  framesDrawn: 0, framesReceived: 0, lastDrawnPoints: 0, firstFrameMs: null, state: 'idle',
  renders: 0, colorMode: 'intensity', // times the scene was drawn, and the colour map it was last drawn with
  decodeMs: 0, renderMs: 0, // main-thread time spent decoding chunks and rendering, cumulative
  controlErrors: 0, // control messages ignored: not JSON objects with a type, or of an unknown type
  // per drawn frame: [frameId, drawn at (server clock, s), latency ms, points %, complete, clock error ms]; the
  // clock error bounds how far the server clock estimate may be off (half the best ping's RTT; null before one)
  samples: [],
};
const MAX_SAMPLES = 20000;
let unreported = [];
window.pointStream = status;

const now = () => (performance.timeOrigin + performance.now()) / 1000;
const scriptStart = performance.now();

function init() {
  forgetTokenInAddress();
  // Connect first. The scene (WebGL start-up: ~150 ms of main thread with software rendering)
  // is built while the browser gathers ICE candidates and the offer travels, not before.
  connection = connectionFromLocation(window.location, {
    onPoints: (data) => {
      const t0 = performance.now();
      assembler.push(data);
      status.decodeMs += performance.now() - t0;
    },
    onControl: onControl,
  });
  connection.addEventListener('step', (ev) => {
    if (ev.detail === 'offer') initScene();
  });
  connection.addEventListener('state', (ev) => {
    if (ev.detail.state !== 'connecting') initScene(); // open (WebSocket), or failed before an offer
    status.state = ev.detail.state;
    if (ev.detail.state === 'reconnecting') assembler.reset();
    if (ev.detail.detail) console.info(`stream: ${ev.detail.state}: ${ev.detail.detail}`);
  });
  hud = new Hud(document.getElementById('hud'));
  const { stream } = signalingBase(window.location.pathname);
  if (stream) {
    document.title = `${stream} · point-cloud stream`;
    hud.set('source', `${stream} · waiting for the stream…`);
  }
  assembler = new FrameAssembler({
    bufferFor: (n) => {
      initScene();
      return scene.bufferFor(n);
    },
    onFrame: (frame) => {
      status.framesReceived += 1;
      received.addFrame({
        t: now(),
        bytes: frame.bytesReceived,
        points: frame.pointsReceived,
        chunks: frame.chunkCount,
        chunksReceived: frame.chunksReceived,
      });
      scene.present(frame);
    },
    clock: now,
  });
  bindControls();
  window.addEventListener('resize', onWindowResize);
  setInterval(ping, PING_INTERVAL_MS);
  setInterval(updateHud, 250);
  setInterval(updatePath, PATH_INTERVAL_MS);
  connection.start();
  setTimeout(initScene, 500); // whatever happens to the connection
}

function initScene() {
  if (scene) return;
  scene = new PointScene(document.getElementById('view'));
  scene.renderer.setAnimationLoop(animate);
}

function onControl(msg) {
  if (msg.type === 'hello') {
    hello = msg;
    const mode = msg.encoding === 'int16' ? `int16 ${msg.quantizeMm} mm` : 'float32';
    hud.set('source', `${msg.source} · ${mode}`);
    ping();
  } else if (msg.type === 'pong' && pings.has(msg.id)) {
    const t0 = pings.get(msg.id);
    pings.delete(msg.id);
    clock.add(t0, msg.serverTime, now());
  } else if (msg.type === 'stats') {
    serverStats = msg;
    // answered at the server's pace (1/s), not on a timer: a hidden tab's timers are throttled to a
    // minute, but its message events are not, so the server keeps hearing from it (--viewer-timeout)
    reportStats();
  } else if (!['end'].includes(msg.type)) {
    status.controlErrors += 1; // a type this client does not know: ignored, counted
  }
}

function ping() {
  const id = pingId++;
  const t0 = now();
  pings.set(id, t0);
  if (pings.size > 32) pings.delete(pings.keys().next().value);
  connection.sendControl({ type: 'ping', id, t0 });
}

function animate() {
  const t0 = performance.now();
  const frame = scene.render();
  status.renderMs += performance.now() - t0;
  status.renders = scene.renders;
  if (!frame) return;
  const t = now();
  status.framesDrawn += 1;
  status.lastDrawnPoints = frame.pointsReceived;
  if (status.firstFrameMs === null) {
    status.firstFrameMs = performance.now();
    status.connectTimings = { ...(connection.timings || {}), scriptStart: Math.round(scriptStart) };
  }
  const latencyMs = (t + clock.offset - frame.captureTime) * 1000;
  drawn.addFrame({ t, latencyMs });
  const sample = [frame.frameId, t + clock.offset, latencyMs, (100 * frame.pointsReceived) / frame.framePoints,
    frame.complete ? 1 : 0, clock.best ? clock.best.rtt * 500 : null];
  status.samples.push(sample);
  if (status.samples.length > MAX_SAMPLES) status.samples.shift();
  unreported.push([sample[0], Math.round(latencyMs * 10) / 10, Math.round(sample[3] * 10) / 10]);
}

function controlErrors() {
  return status.controlErrors + (connection.controlErrors || 0);
}

function updateHud() {
  const t = now();
  const s = received.summary(t);
  const d = drawn.summary(t);
  status.summary = { ...s, drawnFps: d.fps, latencyMs: d.latencyMs };
  status.link = { ...assembler.stats };
  hud.show({ state: connection.state, summary: s, drawn: d, server: serverStats, badChunks: assembler.stats.badChunks });
}

/** The selected candidate pair, for the HUD (direct or relayed, and how). */
async function updatePath() {
  if (!connection.path || connection.state !== 'open') {
    status.path = null;
    hud.showPath(connection.path ? null : { local: 'websocket', remote: 'tcp' });
    return;
  }
  try {
    status.path = await connection.path();
  } catch {
    status.path = null;
  }
  hud.showPath(status.path);
}

function reportStats() {
  const t = now();
  const s = received.summary(t);
  const d = drawn.summary(t);
  connection.sendControl({
    type: 'stats', fps: s.fps, drawnFps: d.fps, latencyMs: d.latencyMs, lossPct: s.lossPct, mbps: s.mbps,
    points: s.points, framesDrawn: status.framesDrawn, badChunks: assembler.stats.badChunks,
    clockRttMs: clock.best ? clock.best.rtt * 1000 : null, path: status.path || null,
    controlErrors: controlErrors(),
    frames: unreported.slice(-100), // [frameId, latency ms, points %] drawn since the last report
  });
  unreported = [];
}

function bindControls() {
  const color = document.getElementById('color-mode');
  color.addEventListener('change', () => {
    scene?.setColorMode(color.value);
    status.colorMode = color.value;
  });
  const size = document.getElementById('point-size');
  size.addEventListener('input', () => scene?.setPointSize(Number(size.value)));
  const pause = document.getElementById('pause');
  pause.addEventListener('click', () => {
    paused = !paused;
    connection.sendControl({ type: paused ? 'pause' : 'resume' });
    pause.textContent = paused ? 'Resume' : 'Pause';
  });
}

function onWindowResize() {
  if (scene) scene.onWindowResize();
}

init();
