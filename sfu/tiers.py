"""Which tier a viewer behind the SFU should be on: a larger share of each frame while it keeps up, a
smaller one when its backlog at Janus or its latency grows, and out when it stops reading altogether.

Janus queues without bound for a slow viewer and never drops (docs/design.md, "Fan-out through
Janus"), so the signaling server watches the viewer's own reports (latency of the frames it draws),
its queue at Janus where Janus shows one (the admin API's ``queued-packets``; data-channel messages
waiting in Janus's SCTP stack are not counted there), and its silence, and acts on them.
"""
from __future__ import annotations

from dataclasses import dataclass

from .janus import Tier


@dataclass(frozen=True)
class TierPolicy:
    down_queue: int = 200
    """Packets queued at Janus for the viewer above which it moves down a tier (a whole 123k-point frame at
    5 mm is about 180 one-packet chunks)."""
    drop_queue: int = 2000
    """Packets queued at Janus above which the viewer is disconnected: it has stopped reading."""
    down_latency_ms: float = 400.0
    """Median latency a viewer reports above which it moves down a tier."""
    drop_latency_ms: float = 2000.0
    """Median latency above which the viewer is disconnected, whatever its tier: that much is queued for it
    at Janus, which never drops and has no way to flush a viewer's queue; the page reconnects at once, on
    the smallest tier, with nothing queued."""
    up_after: float = 5.0
    """Seconds of good reports (no queue, latency under half ``down_latency_ms``) before moving up a tier."""
    silence: float = 5.0
    """Seconds without a word from the viewer after which it is disconnected: a viewer that stopped (a
    frozen process, a dead tab) no longer acknowledges, and Janus would queue its points without bound."""


@dataclass
class TierChoice:
    """The tier one viewer is on and how long it has been doing well there."""

    tiers: tuple[Tier, ...]
    """Largest share first."""
    policy: TierPolicy
    index: int = -1
    """Where the viewer starts: on the smallest tier (-1), moving up while it keeps up, as simulcast
    video starts low. Started on the whole frames, a viewer that cannot take them builds a backlog at
    Janus in its first seconds that Janus never drops (measured: 16 headless viewers in one process,
    p50 22 s)."""
    good_since: float | None = None

    def __post_init__(self) -> None:
        self.index %= len(self.tiers)

    @property
    def tier(self) -> Tier:
        return self.tiers[self.index]

    def update(self, now: float, queued: int | None, latency_ms: float | None) -> str | None:
        """Apply one observation; returns why the tier changed ('' unchanged), or 'drop' to disconnect."""
        p = self.policy
        if (queued is not None and queued > p.drop_queue) or (latency_ms is not None
                                                              and latency_ms > p.drop_latency_ms):
            return "drop"
        slow = (queued is not None and queued > p.down_queue) or (latency_ms is not None
                                                                  and latency_ms > p.down_latency_ms)
        if slow:
            self.good_since = None
            if self.index + 1 < len(self.tiers):
                self.index += 1
                return f"queue {queued} packets, latency {latency_ms} ms"
            return ""
        good = (queued is None or queued < p.down_queue // 4) and (latency_ms is None
                                                                   or latency_ms < p.down_latency_ms / 2)
        if not good:
            self.good_since = None
            return ""
        if self.good_since is None:
            self.good_since = now
        if self.index > 0 and now - self.good_since >= p.up_after:
            self.index -= 1
            self.good_since = now
            return f"kept up for {p.up_after:g} s"
        return ""
