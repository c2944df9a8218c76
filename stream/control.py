"""Control-channel messages (JSON text on the reliable, ordered ``control`` channel).

Shapes are documented in docs/protocol.md ("Control messages"). Parsing is strict about what
it uses and ignores unknown fields, so either side can add fields without breaking the other.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .untrusted_json import loads_bounded

#: Message types a viewer may send.
VIEWER_TYPES = frozenset({"ping", "stats", "pause", "resume"})
MAX_CONTROL_MESSAGE = 16 * 1024


def parse_control(text: str | bytes) -> dict[str, Any]:
    """Parse one control message; raises ValueError if it is not a JSON object with a known ``type``."""
    if isinstance(text, bytes):
        raise ValueError("control messages are JSON text, got binary")
    message = loads_bounded(text, MAX_CONTROL_MESSAGE, "control message")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError("control message must be a JSON object with a string 'type'")
    if message["type"] not in VIEWER_TYPES:
        raise ValueError(f"unknown control message type {message['type']!r}")
    return message


def encode_control(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


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
