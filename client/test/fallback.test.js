// The WebSocket fallback's decisions, with stand-in connections and short timers (the browser test runs the
// real thing with UDP really blocked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { FallbackConnection } from '../src/fallback.js';

const T = 3; // the timings below, in units of T ms: larger is slower and further from timer jitter

/** A connection that does what the test says: answer, open, or neither. */
class FakeConnection extends EventTarget {
  constructor(kind, handlers, log) {
    super();
    this.kind = kind;
    this.handlers = handlers;
    this.log = log;
    this.state = 'idle';
    log.push(`${kind} made`);
  }

  setState(state, detail = '') {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  start() {
    this.log.push(`${this.kind} start`);
    this.setState('connecting');
  }

  answered() {
    this.dispatchEvent(new CustomEvent('step', { detail: 'answered' }));
  }

  stop() {
    this.log.push(`${this.kind} stop`);
    this.setState('closed');
  }

  sendControl(msg) {
    this.log.push(`${this.kind} sends ${msg.type}`);
  }
}

function harness() {
  const log = [];
  const made = { webrtc: [], websocket: [] };
  const got = [];
  const states = [];
  const conn = new FallbackConnection(
    (h) => { const c = new FakeConnection('webrtc', h, log); made.webrtc.push(c); return c; },
    (h) => { const c = new FakeConnection('websocket', h, log); made.websocket.push(c); return c; },
    { onPoints: (d) => got.push(d), onControl: () => {} },
    { fallbackAfterMs: 30 * T, retryFirstMs: 40 * T, retryMaxMs: 100 * T },
  );
  conn.addEventListener('state', (ev) => states.push(ev.detail.state));
  return { conn, made, got, states, log };
}

test('WebRTC that opens in time stays; no WebSocket is made', async () => {
  const { conn, made, states } = harness();
  conn.start();
  made.webrtc[0].answered();
  made.webrtc[0].setState('open');
  await sleep(80 * T);
  assert.equal(made.websocket.length, 0);
  assert.equal(conn.fallbackReason, null);
  assert.deepEqual(states, ['connecting', 'open']);
  conn.stop();
});

test('no answer (the streamer is down) is no reason to fall back: WebRTC keeps retrying by itself', async () => {
  const { conn, made } = harness();
  conn.start();
  await sleep(80 * T);
  assert.equal(made.websocket.length, 0);
  conn.stop();
});

test('answered but not open in time: the WebSocket takes over, WebRTC is tried again later and takes back over', async () => {
  const { conn, made, got, states, log } = harness();
  conn.start();
  const first = made.webrtc[0];
  first.answered();
  await sleep(50 * T);
  assert.equal(first.state, 'closed');
  assert.equal(made.websocket.length, 1);
  assert.match(conn.fallbackReason, /WebRTC did not connect within/);
  const ws = made.websocket[0];
  ws.setState('open');
  assert.equal(conn.state, 'open');
  assert.ok(!states.includes('closed'), states); // the page never saw the abandoned WebRTC attempt close
  ws.handlers.onPoints('ws chunk');
  first.handlers.onPoints('stale webrtc chunk'); // not the active connection any more: dropped
  conn.sendControl({ type: 'ping' });
  assert.deepEqual(got, ['ws chunk']);
  assert.ok(log.includes('websocket sends ping'));
  // the background attempt: while it connects, the WebSocket still streams; when it opens, it takes over
  await sleep(60 * T);
  assert.equal(made.webrtc.length, 2);
  const second = made.webrtc[1];
  second.handlers.onPoints('early webrtc chunk');
  second.answered();
  second.setState('open');
  assert.equal(ws.state, 'closed');
  assert.equal(conn.fallbackReason, null);
  second.handlers.onPoints('webrtc chunk');
  ws.handlers.onPoints('late ws chunk');
  assert.deepEqual(got, ['ws chunk', 'webrtc chunk']);
  assert.equal(states.at(-1), 'open');
  await sleep(80 * T); // back on WebRTC: no more attempts are made
  assert.equal(made.webrtc.length, 2);
  conn.stop();
});

test('a background attempt that does not open is given up and tried again later, backing off', async () => {
  const { conn, made } = harness();
  conn.start();
  made.webrtc[0].answered();
  await sleep(40 * T);
  made.websocket[0].setState('open');
  await sleep(50 * T); // retry after 40: attempt 2 starts, never opens, is given up after 60
  assert.equal(made.webrtc.length, 2);
  await sleep(70 * T);
  assert.equal(made.webrtc[1].state, 'closed');
  assert.equal(conn.state, 'open'); // the WebSocket streams on
  await sleep(100 * T); // the next attempt after 80 (doubled)
  assert.equal(made.webrtc.length, 3);
  conn.stop();
  assert.equal(made.webrtc[2].state, 'closed');
  assert.equal(made.websocket[0].state, 'closed');
});

test('a server without a WebSocket transport (a relay node) keeps the page on WebRTC: nothing to fall back to', async () => {
  const { conn, made } = harness();
  conn.start();
  made.webrtc[0].serverConfig = { sfu: true, websocket: false };
  made.webrtc[0].answered();
  await sleep(50 * T);
  assert.equal(made.websocket.length, 0);
  assert.equal(made.webrtc[0].state, 'connecting'); // still trying, by itself
  assert.equal(conn.fallbackReason, null);
  conn.stop();
});
