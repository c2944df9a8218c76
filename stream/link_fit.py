"""Fits each frame to one viewer's link: how many of its chunks (a prefix of the progressive send order)
go to that viewer, from what the link delivered lately.

The fitter keeps a rate estimate per viewer and sizes each frame so that, at that rate, the frame's
prefix occupies the link for at most ``frame_share`` of the frame interval: the rest of the interval
keeps latency down (a frame is drawn when its last chunk is in) and leaves room for the next frame.

It learns the rate from the one signal every transport gives the sender, the unacknowledged backlog
(rtc/sctp_backlog.py), read once per frame at a deadline: ``frame_share`` of the interval plus the
path's base round trip after the frame started. A frame still not acknowledged by then means a queue
is building on the path (its bottleneck is slower than the frame was sized for): the rate drops at once
to 90 % of what the path delivered while busy (at most halving it per frame), before loss, as
delay-based congestion control does.
A frame acknowledged in time while its size was limited by the fit lets the rate grow by
``probe_gain`` (slower within 15 % of the rate where the link last showed a queue, for two seconds),
so a faster link is found within a second or two. One decrease per queue: frames that started before
the last decrease were sized with the old rate and teach nothing new. Whatever is still unacknowledged when the
next frame starts is taken off that frame's budget, so a standing queue drains instead of growing.
The viewer's own reports cap the share too: one that receives frames faster than it draws them is
short of CPU (a browser's cost is per point), and gets fewer points per frame until it draws them all.
Random loss does not change the backlog's timing, so it does not lower the rate (the SCTP
loss tolerance, rtc/sctp_congestion.py, keeps the window).

docs/design.md ("Fitting the link") has the reasoning and the measurements.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MBIT = 1e6 / 8
"""Bytes per second in one Mbit/s."""


@dataclass(frozen=True)
class FitOptions:
    """How frames are fitted to a viewer's link; ``enabled=False`` sends every chunk of every frame."""

    enabled: bool = True
    frame_share: float = 0.8
    """Fraction of the frame interval one frame's prefix may take on the link at the estimated rate."""
    max_rate_bytes: float = math.inf
    """A ceiling on the rate, bytes/s (a user's cap per viewer)."""
    max_point_share: float = 1.0
    """Largest share of a frame's chunks (of its points, near enough) any viewer is sent."""
    initial_rate_bytes: float = 10 * MBIT
    min_rate_bytes: float = 0.25 * MBIT
    probe_gain: float = 1.25
    """Growth per frame acknowledged in time, while the fit limited it."""
    near_ceiling_gain: float = 1.04
    """Growth per frame within 15 % of the rate at which the link last showed a queue (unless the frame was
    acknowledged half way to its deadline: the link has room)."""
    ceiling_memory: float = 2.0
    """Seconds that rate is remembered: after it, probing is fast again (a link that got faster)."""
    min_chunks: int = 4
    """Fewest chunks of a frame sent (spread over the whole scene by the progressive order)."""

    def __post_init__(self) -> None:
        if not 0 < self.frame_share <= 1:
            raise ValueError(f"frame share must be in (0, 1], got {self.frame_share}")
        if not 0 < self.max_point_share <= 1:
            raise ValueError(f"largest share of points must be in (0, 1], got {self.max_point_share}")
        if not self.max_rate_bytes > 0:
            raise ValueError(f"rate ceiling must be above 0, got {self.max_rate_bytes}")


@dataclass
class FrameBudget:
    """What the fitter decided for one frame, and what it needs to learn from it."""

    chunks: int
    """Chunks to send: the first ``chunks`` of the send order."""
    deadline: float
    """When the frame should be acknowledged (monotonic seconds), if the rate estimate is right."""
    started: float
    acked_at_start: int
    limited: bool
    """The fit (not the frame's size or the point share) decided how much was sent."""
    halfway: float = 0.0
    """Half way to the deadline (after the round trip): a frame acknowledged by then left the link idle half
    the time, so the rate may grow fast even near where the link last showed a queue."""
    sent_through: int = 0
    """The sender's byte count once this frame was handed over: acknowledged up to it means drained."""
    acked_halfway: bool = False
    wanted: float = 1.0
    """Share of a frame's chunks the fit takes at the rate estimate with no queue left, had they all been
    encoded (stream/encoder.py encodes only the share its consumers take)."""


class LinkFitter:
    """Rate estimate and frame budgets for one viewer. Times are ``time.monotonic()`` seconds; ``acked`` counts
    are the sender's bytes sent minus its backlog."""

    def __init__(self, options: FitOptions, fps: float) -> None:
        self.options = options
        self.interval = 1.0 / fps
        self.rate = min(options.initial_rate_bytes, options.max_rate_bytes)
        """Estimated rate the path delivers, bytes/s."""
        self.base_rtt: float | None = None
        """Smallest round trip seen (the path without queues), seconds."""
        self.decreases = 0
        self.increases = 0
        self._last_decrease = -math.inf
        """When the rate last went down: frames started before then were sized with the old rate."""
        self._ceiling = math.inf
        """The rate at which the link last showed a queue; probing slows near it, for ``ceiling_memory`` s."""
        self._ceiling_set = -math.inf
        self.viewer_share = 1.0
        """Largest share the viewer itself keeps up with (its reports: frames it draws vs frames it gets)."""

    @property
    def path_rtt(self) -> float:
        """The base round trip, or 50 ms before the transport has measured one."""
        return self.base_rtt if self.base_rtt is not None else 0.05

    def observe_rtt(self, rtt: float | None) -> None:
        if rtt is not None and rtt > 0:
            self.base_rtt = rtt if self.base_rtt is None else min(self.base_rtt, rtt)

    def budget(self, sizes: list[int], backlog: int, now: float, acked: int, chunk_count: int = 0) -> FrameBudget:
        """The prefix of a frame whose chunks (in send order) have ``sizes`` bytes, when ``backlog`` bytes of
        earlier frames are still unacknowledged. What the path holds in flight (rate × base RTT) is normal;
        anything beyond is a queue and comes off this frame's budget. ``chunk_count``: the frame's chunks,
        when only the first ``len(sizes)`` were encoded."""
        o = self.options
        rtt = self.path_rtt
        queued = max(0.0, backlog - self.rate * rtt)
        allowed = self.rate * o.frame_share * self.interval - queued
        count = max(chunk_count, len(sizes))
        most = max(1, math.ceil(min(o.max_point_share, self.viewer_share) * count))
        chunks = 0
        total = 0
        for size in sizes[:most]:
            if total + size > allowed and chunks >= o.min_chunks:
                break
            total += size
            chunks += 1
        limited = chunks < min(len(sizes), most)
        # what the fit takes of a frame once no queue is left, at these chunks' size: what to encode next
        steady = self.rate * o.frame_share * self.interval
        wanted = min(most, max(chunks, steady * len(sizes) / sum(sizes))) if sizes else most
        share = o.frame_share * self.interval
        return FrameBudget(chunks, now + share + rtt + 0.005, now, acked, limited, now + share / 2 + rtt + 0.005,
                           wanted=wanted / count if count else 1.0)

    def viewer_report(self, received_fps: object, drawn_fps: object) -> None:
        """A viewer that receives frames faster than it draws them is short of CPU, not of link: fewer points
        per frame let it draw every frame (the browser's cost is per point). Reports are untrusted numbers."""
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in (received_fps, drawn_fps)):
            return
        received, drawn = float(received_fps), float(drawn_fps)  # type: ignore[arg-type]
        if received < 1:
            return
        if drawn < 0.85 * received:
            self.viewer_share = max(0.05, self.viewer_share * max(0.5, drawn / received))
        elif drawn >= 0.95 * received:
            self.viewer_share = min(1.0, self.viewer_share * 1.1)

    @staticmethod
    def at_halfway(frame: FrameBudget, acked: int, slack_bytes: int) -> None:
        frame.acked_halfway = acked >= frame.sent_through - slack_bytes

    def at_deadline(self, frame: FrameBudget, now: float, acked: int, slack_bytes: int) -> None:
        """Learn from one frame at its deadline: not acknowledged yet means a queue, so the rate is too high."""
        o = self.options
        if acked < frame.sent_through - slack_bytes:
            if frame.started < self._last_decrease:
                return  # sized before the last decrease: its queue is already accounted for
            # nothing of this frame can be acknowledged in its first round trip: the delivery window starts then
            busy = max(now - frame.started - (self.base_rtt or 0.0), 1e-3)
            delivered = (acked - frame.acked_at_start) / busy
            self._ceiling, self._ceiling_set = self.rate, now
            # at most halved per frame: one stalled read of the backlog must not throw the estimate away
            self.rate = max(o.min_rate_bytes, 0.5 * self.rate, min(self.rate, 0.9 * delivered))
            self._last_decrease = now
            self.decreases += 1
            logger.debug("frame not acknowledged %.0f ms after it started (%d bytes short): rate %.1f Mbit/s",
                         1000 * (now - frame.started), frame.sent_through - acked, self.rate / MBIT)
        elif frame.limited:
            near = (not frame.acked_halfway and self.rate > 0.85 * self._ceiling
                    and now - self._ceiling_set < o.ceiling_memory)
            self.rate = min(o.max_rate_bytes, self.rate * (o.near_ceiling_gain if near else o.probe_gain))
            self.increases += 1
            logger.debug("frame acknowledged in time: rate %.1f Mbit/s", self.rate / MBIT)
