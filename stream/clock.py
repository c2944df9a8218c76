"""The offset between a viewer's clock and the streamer's, from ping/pong exchanges (client/src/clock.js too)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClockSample:
    rtt: float
    offset: float
    """Add to the local clock to get the remote clock."""


class ClockOffsetEstimator:
    """NTP-style offset from ping/pong exchanges: the sample with the lowest RTT wins.

    A ping leaves at local time t0, the peer stamps its clock ts, the pong arrives at t3.
    Assuming symmetric paths, remote = local + (ts - (t0 + t3) / 2), with an error of at most
    RTT / 2; the lowest-RTT sample of a recent window has the smallest bound.
    """

    def __init__(self, window: int = 16) -> None:
        self.window = window
        self._samples: list[ClockSample] = []

    def add(self, t0: float, remote: float, t3: float) -> ClockSample:
        if t3 < t0:
            raise ValueError("pong arrived before its ping left")
        sample = ClockSample(rtt=t3 - t0, offset=remote - (t0 + t3) / 2)
        self._samples.append(sample)
        del self._samples[:-self.window]
        return sample

    @property
    def best(self) -> ClockSample | None:
        return min(self._samples, key=lambda s: s.rtt) if self._samples else None

    @property
    def offset(self) -> float:
        best = self.best
        return best.offset if best else 0.0
