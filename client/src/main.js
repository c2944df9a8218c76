// Viewer entry point: wires the connection, the assembler, the scene, the HUD and the tools.
import { forgetTokenInAddress } from './address.js';
import { ColourRange } from './colormap.js';
import { connectionFromLocation, signalingBase } from './connection.js';
import { FALLBACK_AFTER_MS, NO_PATH_REASON } from './fallback.js';
import { Hud } from './hud.js';
import { pauseOrResume } from './messages.js';
import { Telemetry } from './telemetry.js';
import { Tools } from './tools.js';
import { ViewSettings } from './view_settings.js';

const PING_INTERVAL_MS = 1000;
const PATH_INTERVAL_MS = 2000;
/** The ground grids appear after the first frame, or this long after the scene was built without one. */
const GRIDS_AFTER_MS = 1500;

// The heavy parts load beside the connection, not before it: three.js (the scene) and the zstd decoder's
// WebAssembly (the assembler) are most of the page's bytes, and on a lossy WAN link their transfer took a
// second that the connection's own round trips can share (client/build.mjs splits them into chunks of their own).
const heavy = Promise.all([import('./scene.js'), import('./assembler.js')]);
/** Point chunks that arrived before the decoder had loaded, decoded once it has (bounded: 4096 × ~2 KB). */
const early = [];
const MAX_EARLY_CHUNKS = 4096;

let scene, hud, connection, assembler, telemetry, tools;
let PointScene = null; // scene.js's, once loaded
let sceneWanted = false;
let paused = false;
const colourRange = new ColourRange();

/** Exposed for tests and for curious users in the console. */
const status = {
  framesDrawn: 0, framesReceived: 0, lastDrawnPoints: 0, mostDrawnPoints: 0, firstFrameMs: null, state: 'idle',
  renders: 0, colorMode: 'intensity', // times the scene was drawn, and the colour map it was last drawn with
  decodeMs: 0, renderMs: 0, // main-thread time spent decoding chunks and rendering, cumulative
  controlErrors: 0, // control messages ignored: not JSON objects with a type, or of an unknown type
  samples: [], // per drawn frame (telemetry.js says what is in each)
  colourRange: null, colourRangeFixed: false, // the values the colour map spans, and whether the user fixed them
  trailFrames: 0, // older frames drawn fading behind the newest (decay)
  picked: [], distance: null, // points clicked, and the distance between the last two
  screenshots: 0, fallback: null, // screenshots saved; why the page streams over the WebSocket, if it does
};
window.pointStream = status;

const now = () => (performance.timeOrigin + performance.now()) / 1000;
const scriptStart = performance.now();

function init() {
  forgetTokenInAddress();
  const settings = new ViewSettings(storage());
  if (settings.settings.range) colourRange.fix(...settings.settings.range);
  // Connect first. The scene (WebGL start-up and the first render's shader compile: 150–300 ms of CPU with
  // software rendering) is built once the connection is open (or has failed). Built while ICE gathered, it
  // held up the page's own steps (the gathering's events, the answer) as long; built while ICE, DTLS and SCTP
  // came up, it took the CPU they needed (on two cores: the channel open 230–410 ms after the answer instead
  // of mostly 60–230, the first frame drawn 130 ms later at the median; docs/benchmarks.md, "The viewer's
  // page weight").
  connection = connectionFromLocation(window.location, {
    onPoints: (data) => {
      status.firstChunkMs ??= Math.round(performance.now());
      if (assembler) decode(data);
      else if (early.length < MAX_EARLY_CHUNKS) early.push(data);
    },
    onControl: onControl,
  });
  telemetry = new Telemetry((msg) => connection.sendControl(msg), now);
  status.samples = telemetry.samples;
  let noPathTimer = null;
  connection.addEventListener('step', (ev) => {
    // the streamer answered: a path should open within seconds; if none does, say why (ICE itself may take
    // half a minute to declare failure)
    if (ev.detail === 'answered' && noPathTimer === null) {
      noPathTimer = setTimeout(() => {
        if (connection.state !== 'open') hud.notice('connection', NO_PATH_REASON);
      }, FALLBACK_AFTER_MS);
    }
  });
  connection.addEventListener('state', (ev) => {
    if (ev.detail.state !== 'connecting') initScene(); // open (WebSocket), or failed before an offer
    status.state = ev.detail.state;
    const points = connection.points;
    status.pointsChannel = ev.detail.state === 'open' && points
      ? { label: points.label, ordered: points.ordered, maxRetransmits: points.maxRetransmits, viaSfu: connection.viaSfu }
      : null;
    if (ev.detail.state === 'reconnecting') {
      assembler?.reset();
      early.length = 0;
    }
    status.fallback = connection.fallbackReason ?? null;
    if (ev.detail.detail) console.info(`stream: ${ev.detail.state}: ${ev.detail.detail}`);
    // the streamer answered but no path came up: say why, since nothing else will
    const { state, detail } = ev.detail;
    if (state === 'reconnecting' && detail.startsWith('connection failed')) hud.notice('connection', NO_PATH_REASON);
    else if (state === 'open') {
      clearTimeout(noPathTimer);
      noPathTimer = null;
      updatePath(); // at once, not at the next refresh: the path row says how this connection came up
      hud.notice('connection', status.fallback ? `${status.fallback}: on the WebSocket; trying WebRTC again later` : '');
    }
  });
  hud = new Hud(document.getElementById('hud'));
  tools = new Tools(document, settings, {
    scene: () => scene, colourRange, status,
    pause: () => document.getElementById('pause').click(),
  });
  if (settings.problems.length) hud.notice('address', `ignored in the address: ${settings.problems.join(', ')}`);
  const { stream } = signalingBase(window.location.pathname);
  if (stream) {
    document.title = `${stream} · point-cloud stream`;
    hud.set('source', `${stream} · waiting for the stream…`);
  }
  heavy.then(([sceneModule, assemblerModule]) => {
    PointScene = sceneModule.PointScene;
    startDecoding(assemblerModule.FrameAssembler);
    if (sceneWanted) initScene();
    for (const data of early.splice(0)) decode(data);
  }, (err) => {
    hud.notice('code', `the viewer's code did not load (${err.message}): reload the page`);
  });
  bindPause();
  window.addEventListener('resize', onWindowResize);
  setInterval(() => telemetry.ping(), PING_INTERVAL_MS);
  setInterval(updateHud, 250);
  setInterval(updatePath, PATH_INTERVAL_MS);
  connection.start();
  setTimeout(initScene, 1500); // whatever happens to the connection
}

function startDecoding(FrameAssembler) {
  assembler = new FrameAssembler({
    // through the SFU, frames captured more than 1.5 s ago (by the sender's clock) are not started: Janus never
    // drops, so a viewer that fell behind catches up by skipping what queued for it. Direct connections
    // drop nothing stale on the way and keep their behaviour (and the benchmark's figures) as they were.
    serverNow: () => (connection.viaSfu && telemetry.clock.best ? now() + telemetry.clock.offset : null),
    bufferFor: (n) => {
      initScene();
      return scene.bufferFor(n);
    },
    coloursFor: (points) => scene.coloursFor(points),
    onFrame: (frame) => {
      status.framesReceived += 1;
      status.firstFrameReceivedMs ??= Math.round(performance.now());
      telemetry.frameReceived(frame);
      if (colourRange.fit(frame.points, frame.framePoints, status.colorMode)) scene.setColourRange(...colourRange.range);
      scene.present(frame);
    },
    clock: now,
  });
}

function decode(data) {
  const t0 = performance.now();
  assembler.push(data);
  status.decodeMs += performance.now() - t0;
}

/** Build the scene (once; when scene.js has loaded, if it has not yet). */
function initScene() {
  if (scene) return;
  if (!PointScene) {
    sceneWanted = true;
    return;
  }
  const t0 = performance.now();
  scene = new PointScene(document.getElementById('view'));
  tools.sceneReady(scene);
  scene.renderer.setAnimationLoop(animate);
  setTimeout(() => scene.showGrids(), GRIDS_AFTER_MS);
  status.sceneInitMs = [Math.round(t0), Math.round(performance.now() - t0)]; // when, and main-thread time it took
}

/** Local storage, or null where the browser refuses it (some private windows). */
function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** What the client does with each server message type; any other type is ignored and counted. */
const handlers = {
  /** @param {import('./messages.js').Hello} msg */
  hello(msg) {
    const mode = msg.encoding === 'spherical' ? `${msg.quantizeMm} mm` : 'lossless';
    hud.set('source', `${msg.source} · ${mode}`);
    telemetry.ping();
  },
  pong: (msg) => telemetry.onPong(msg),
  senderStats: (msg) => telemetry.onSenderStats(msg, {
    framesDrawn: status.framesDrawn, badChunks: assembler ? assembler.stats.badChunks : 0, path: status.path || null,
    controlErrors: controlErrors(),
  }),
  end: () => {},
};

function onControl(msg) {
  const handler = Object.hasOwn(handlers, msg.type) ? handlers[msg.type] : null;
  if (handler) handler(msg);
  else status.controlErrors += 1;
}

function animate() {
  const t0 = performance.now();
  const frame = scene.render();
  status.renderMs += performance.now() - t0;
  if (scene.renders === 1) status.firstRenderMs ??= [Math.round(t0), Math.round(performance.now() - t0)];
  status.renders = scene.renders;
  if (!frame) return;
  status.trailFrames = scene.trailShown ?? 0;
  status.framesDrawn += 1;
  status.lastDrawnPoints = frame.pointsReceived;
  status.mostDrawnPoints = Math.max(status.mostDrawnPoints, frame.pointsReceived);
  if (status.firstFrameMs === null) {
    status.firstFrameMs = performance.now();
    setTimeout(() => scene.showGrids(), 0); // drawn with the next frame (scene.js says why not before)
    status.connectTimings = { ...(connection.timings || {}), scriptStart: Math.round(scriptStart),
      sceneInit: status.sceneInitMs, firstRender: status.firstRenderMs, firstChunk: status.firstChunkMs, firstFrameReceived: status.firstFrameReceivedMs };
  }
  telemetry.frameDrawn(frame);
}

function controlErrors() {
  return status.controlErrors + (connection.controlErrors || 0);
}

const decodeWindow = { ms: 0, frames: 0 }; // decode time and frames at the last HUD refresh

function updateHud() {
  const t = now();
  const s = telemetry.received.summary(t);
  const d = telemetry.drawn.summary(t);
  const frames = status.framesReceived - decodeWindow.frames;
  const decodeMs = frames > 0 ? (status.decodeMs - decodeWindow.ms) / frames : null;
  Object.assign(decodeWindow, { ms: status.decodeMs, frames: status.framesReceived });
  status.summary = { ...s, drawnFps: d.fps, latencyMs: d.latencyMs };
  if (assembler) status.link = { ...assembler.stats };
  tools.refresh();
  hud.show({ state: connection.state, summary: s, drawn: d, server: telemetry.serverStats,
    badChunks: assembler ? assembler.stats.badChunks : 0, decodeMs });
}

/** The selected candidate pair, for the HUD (direct or relayed, and how). */
async function updatePath() {
  if (!connection.path || connection.state !== 'open') {
    status.path = null;
    hud.showPath(connection.path ? null : { local: 'websocket', remote: 'tcp', fallback: status.fallback });
    return;
  }
  try {
    status.path = await connection.path();
  } catch {
    status.path = null;
  }
  hud.showPath(status.path);
}

function bindPause() {
  const pause = document.getElementById('pause');
  pause.addEventListener('click', () => {
    paused = !paused;
    connection.sendControl(pauseOrResume(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
  });
}

function onWindowResize() {
  if (scene) scene.onWindowResize();
}

init();
