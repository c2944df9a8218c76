// What the viewer measures and tells the server: the clock offset (pings), the link and draw rates, each
// drawn frame's latency (samples), and the viewerStats report sent in answer to the server's senderStats.
import { ClockOffsetEstimator } from './clock.js';
import { SectorCoverage } from './coverage.js';
import { LinkMeter } from './hud.js';
import { ping, viewerStats } from './messages.js';

const MAX_SAMPLES = 20000;

export class Telemetry {
  /**
   * @param {(msg: import('./messages.js').ViewerMessage) => void} send
   * @param {() => number} now the viewer's clock, seconds
   */
  constructor(send, now) {
    this.send = send;
    this.now = now;
    this.clock = new ClockOffsetEstimator();
    this.received = new LinkMeter(); // frames as they are reassembled: rate, loss, bandwidth
    this.drawn = new LinkMeter(); // frames as they reach the screen: rate, capture-to-draw latency
    this.pings = new Map();
    this.pingId = 0;
    /** The server's last senderStats message, null before one. */
    this.serverStats = null;
    /**
     * Per drawn frame: [frameId, drawn at (server clock, s), latency ms, points %, complete, clock error ms]; the
     * clock error bounds how far the server clock estimate may be off (half the best ping's RTT; null before one).
     */
    this.samples = [];
    this.sectors = new SectorCoverage();
    this.unreported = [];
  }

  ping() {
    const id = this.pingId++;
    const t0 = this.now();
    this.pings.set(id, t0);
    if (this.pings.size > 32) this.pings.delete(this.pings.keys().next().value);
    this.send(ping(id, t0));
  }

  /** @param {import('./messages.js').Pong} msg */
  onPong(msg) {
    if (!this.pings.has(msg.id)) return;
    const t0 = this.pings.get(msg.id);
    this.pings.delete(msg.id);
    this.clock.add(t0, msg.serverTime, this.now());
  }

  /** A frame finished reassembling. */
  frameReceived(frame) {
    this.received.addFrame({
      t: this.now(), bytes: frame.bytesReceived, points: frame.pointsReceived, chunks: frame.chunksSent,
      chunksReceived: frame.chunksReceived, framePoints: frame.framePoints,
    });
  }

  /** A frame reached the screen; returns its sample. */
  frameDrawn(frame) {
    const t = this.now();
    const latencyMs = (t + this.clock.offset - frame.captureTime) * 1000;
    this.drawn.addFrame({ t, latencyMs });
    const best = this.clock.best;
    const sample = [frame.frameId, t + this.clock.offset, latencyMs, (100 * frame.pointsReceived) / frame.framePoints,
      frame.complete ? 1 : 0, best ? best.rtt * 500 : null, this.sectors.coverage(frame.points, frame.framePoints)];
    this.samples.push(sample);
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
    this.unreported.push([sample[0], Math.round(latencyMs * 10) / 10, Math.round(sample[3] * 10) / 10]);
    return sample;
  }

  /**
   * The server's senderStats: answered at the server's pace (1/s), not on a timer, because a hidden tab's timers
   * are throttled to a minute but its message events are not, so the server keeps hearing from it.
   * @param {import('./messages.js').SenderStats} msg
   * @param {{framesDrawn: number, badChunks: number, path: (object|null), controlErrors: number}} viewer
   */
  onSenderStats(msg, viewer) {
    this.serverStats = msg;
    const t = this.now();
    const s = this.received.summary(t);
    const d = this.drawn.summary(t);
    const best = this.clock.best;
    this.send(viewerStats({
      fps: s.fps, drawnFps: d.fps, latencyMs: d.latencyMs, lossPct: s.lossPct, mbps: s.mbps, points: s.points,
      framesDrawn: viewer.framesDrawn, badChunks: viewer.badChunks, clockRttMs: best ? best.rtt * 1000 : null,
      path: viewer.path, controlErrors: viewer.controlErrors,
      frames: this.unreported.slice(-100), // [frameId, latency ms, points %] drawn since the last report
    }));
    this.unreported = [];
  }
}
