// The control messages, typed (docs/protocol.md, "Control messages"); stream/messages.py declares the same.
// On the wire: JSON text, camelCase fields, a string `type` first.

/**
 * @typedef {{ordered: boolean, maxRetransmits: (number|null), maxPacketLifeTime: (number|null)}} PointsChannel
 * @typedef {{type: 'hello', source: string, frames: number, fps: number, encoding: ('float32'|'spherical'),
 *   quantizeMm: number, viewer: number, transport: ('webrtc'|'websocket'), pointsChannel?: PointsChannel}} Hello
 * @typedef {{type: 'pong', id?: (number|string), t0?: number, serverTime: number}} Pong
 * @typedef {{type: 'senderStats', framesSent: number, framesSkipped: number, chunksSent: number,
 *   bytesSent: number, serverTime: number}} SenderStats
 * @typedef {{type: 'end', framesSent: number, framesSkipped: number, chunksSent: number, bytesSent: number}} End
 * @typedef {Hello|Pong|SenderStats|End} ServerMessage
 *
 * @typedef {{type: 'ping', id: number, t0: number}} Ping
 * @typedef {{type: 'viewerStats', fps: number, drawnFps: number, latencyMs: (number|null), lossPct: number,
 *   mbps: number, points: number, framesDrawn: number, badChunks: number, clockRttMs: (number|null),
 *   path: (object|null), controlErrors: number, frames: Array<[number, number, number]>}} ViewerStats
 * @typedef {{type: 'pause'}|{type: 'resume'}} PauseResume
 * @typedef {Ping|ViewerStats|PauseResume} ViewerMessage
 */

/** @param {number} id @param {number} t0 the viewer's clock, seconds @returns {Ping} */
export function ping(id, t0) {
  return { type: 'ping', id, t0 };
}

/** @param {Omit<ViewerStats, 'type'>} fields @returns {ViewerStats} */
export function viewerStats(fields) {
  return { type: 'viewerStats', ...fields };
}

/** @param {boolean} paused @returns {PauseResume} */
export function pauseOrResume(paused) {
  return { type: paused ? 'pause' : 'resume' };
}
