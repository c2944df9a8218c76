// NTP-style clock offset over the control channel: the lowest-RTT sample of a recent window wins.
// Mirrors ClockOffsetEstimator in stream/control.py.

export class ClockOffsetEstimator {
  constructor(window = 16) {
    this.window = window;
    this.samples = [];
  }

  /**
   * @param {number} t0 local send time (s) @param {number} remote peer clock (s) @param {number} t3 local receive time (s)
   * @returns {{rtt:number, offset:number}} offset: add to local time to get remote time
   */
  add(t0, remote, t3) {
    if (t3 < t0) throw new Error('pong arrived before its ping left');
    const sample = { rtt: t3 - t0, offset: remote - (t0 + t3) / 2 };
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples.shift();
    return sample;
  }

  get best() {
    let best = null;
    for (const s of this.samples) if (!best || s.rtt < best.rtt) best = s;
    return best;
  }

  get offset() {
    const best = this.best;
    return best ? best.offset : 0;
  }
}
