// Reassembles unordered, lossy point chunks into frames; keeps the link statistics.
// Mirrors headless/assembler.py: a frame finishes when all the chunks it was sent are in (a sender fitting
// the link sends only the first chunksSent), or partially when the last chunk it was sent has arrived (the
// sender sends a frame's chunks in order, once: the missing ones were lost) or a chunk of a newer frame
// arrives; chunks of finished frames are late and dropped.
import { ChunkError, decodeChunkInto } from './protocol.js';

/** True if 32-bit frame id a is after b (wrap-around aware). */
export function newer(a, b) {
  return a !== b && ((a - b) >>> 0) < 0x80000000;
}

export class LinkStats {
  constructor() {
    this.chunksReceived = 0;
    this.chunksLost = 0;
    this.chunksUnsent = 0;
    this.badChunks = 0;
    this.lateChunks = 0;
    /** Chunks of a new frame captured longer ago than ``maxAge`` (a backlog somewhere, such as Janus's queue for
     * a viewer that fell behind): dropped, so that the frames after them are drawn. */
    this.staleChunks = 0;
    this.duplicateChunks = 0;
    this.bytesReceived = 0;
    this.framesComplete = 0;
    this.framesPartial = 0;
    this.pointsReceived = 0;
  }
}

/**
 * Frame buffers are provided by the caller (the scene owns its GPU buffers): ``bufferFor(framePoints)``
 * returns a Float32Array of at least framePoints*4 floats for a new frame, already cleared
 * (intensity < 0 marks points that never arrived). ``coloursFor(points, framePoints)`` returns the colour
 * buffer (r, g, b bytes per point) that goes with that frame buffer, asked for when a chunk of the frame has
 * colours (without it the assembler allocates one); ``frame.colours`` stays null for a frame without any.
 * ``onFrame(frame)`` gets the finished frame.
 */
export class FrameAssembler {
  /**
   * ``serverNow()``: the sender's clock now, or null while unknown; chunks of a new frame captured more than
   * ``maxAge`` seconds before it are stale.
   * @param {{bufferFor:(n:number)=>Float32Array, onFrame:(frame:object)=>void, clock?:()=>number,
   *   serverNow?:(()=>(number|null))|null, maxAge?:number,
   *   coloursFor?:(points:Float32Array, n:number)=>Uint8Array}} opts
   */
  constructor({ bufferFor, onFrame, clock = () => Date.now() / 1000, serverNow = null, maxAge = 1.5,
    coloursFor = (points, n) => new Uint8Array(n * 3) }) {
    this.bufferFor = bufferFor;
    this.coloursFor = coloursFor;
    this.onFrame = onFrame;
    this.clock = clock;
    this.serverNow = serverNow;
    this.maxAge = maxAge;
    this.stats = new LinkStats();
    this.open = new Map();
    this.newest = null;
    this.lastFinished = null;
  }

  /** @param {ArrayBuffer} message */
  push(message) {
    const now = this.clock();
    let frame = null;
    let status = 'ok';
    let header;
    try {
      header = decodeChunkInto(message, (h) => {
        frame = this.open.get(h.frameId);
        if (!frame) {
          if (this.newest !== null && !newer(h.frameId, this.newest)) {
            status = 'late';
            throw new ChunkError('late');
          }
          // stale: captured more than maxAge ago, while frames are being finished (one at least every maxAge: a
          // viewer too slow for any frame to be fresh still draws some, rather than none)
          const serverNow = this.serverNow ? this.serverNow() : null;
          if (serverNow !== null && serverNow - h.captureTime > this.maxAge
              && this.lastFinished !== null && now - this.lastFinished < this.maxAge) {
            status = 'stale';
            throw new ChunkError('stale');
          }
          this.newest = h.frameId;
          for (const [id, old] of this.open) {
            if (newer(h.frameId, id)) {
              this.open.delete(id);
              this.finish(old);
            }
          }
          frame = {
            frameId: h.frameId, captureTime: h.captureTime, framePoints: h.framePoints, chunkCount: h.chunkCount,
            chunksSent: h.chunksSent,
            points: this.bufferFor(h.framePoints), colours: null, seen: new Set(), chunksReceived: 0, pointsReceived: 0,
            bytesReceived: 0, firstArrival: now, lastArrival: now,
          };
          this.open.set(h.frameId, frame);
        }
        if (h.chunkCount !== frame.chunkCount || h.chunksSent !== frame.chunksSent || h.framePoints !== frame.framePoints) {
          throw new ChunkError('chunk disagrees with its frame on chunk or point count');
        }
        if (frame.seen.has(h.chunkIndex)) {
          status = 'duplicate';
          throw new ChunkError('duplicate');
        }
        return frame.points;
      }, (h) => {
        if (!frame.colours) frame.colours = this.coloursFor(frame.points, h.framePoints);
        return frame.colours;
      });
    } catch (err) {
      if (!(err instanceof ChunkError)) throw err;
      if (status === 'late') this.stats.lateChunks += 1;
      else if (status === 'stale') this.stats.staleChunks += 1;
      else if (status === 'duplicate') this.stats.duplicateChunks += 1;
      else this.stats.badChunks += 1;
      return;
    }
    frame.seen.add(header.chunkIndex);
    frame.chunksReceived += 1;
    frame.pointsReceived += header.pointCount;
    frame.bytesReceived += message.byteLength;
    frame.lastArrival = now;
    this.stats.chunksReceived += 1;
    this.stats.bytesReceived += message.byteLength;
    if (frame.chunksReceived === frame.chunksSent || header.chunkIndex === frame.chunksSent - 1) {
      this.open.delete(frame.frameId);
      this.finish(frame);
    }
  }

  /** Finish every open frame (end of stream, reconnect). */
  flush() {
    for (const frame of this.open.values()) this.finish(frame);
    this.open.clear();
  }

  reset() {
    this.open.clear();
    this.newest = null;
  }

  finish(frame) {
    this.lastFinished = this.clock();
    const s = this.stats;
    frame.complete = frame.chunksReceived === frame.chunkCount;
    s.chunksLost += frame.chunksSent - frame.chunksReceived;
    s.chunksUnsent += frame.chunkCount - frame.chunksSent;
    s.pointsReceived += frame.pointsReceived;
    if (frame.complete) s.framesComplete += 1;
    else s.framesPartial += 1;
    this.onFrame(frame);
  }
}
