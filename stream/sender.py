"""Per-viewer sender: newest frame wins, each frame fitted to the viewer's link (stream/link_fit.py), chunks paced
across the frame interval, backlog bounded."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from .broadcaster import FrameBroadcaster, Watch
from .encoder import EncodedFrame
from .link_fit import MBIT, FitOptions, FrameBudget, LinkFitter
from .messages import SenderCounters, wire_fields
from .protocol import with_chunks_sent
from .sinks import PointSink

logger = logging.getLogger(__name__)

POLL_MIN = 0.002
POLL_MAX = 0.05
"""Seconds between backlog checks while waiting for a link: the shortest while it drains, the longest
while it does not move."""
SHARE_HEADROOM = 1.5
"""The share of the next frame a fitted sender asks to be encoded, over the share its fit would take of this
one: room for the rate to grow (25 % a frame while probing) and for frames whose chunks differ in size."""


@dataclass(frozen=True)
class PacingOptions:
    """How one viewer's chunks are put on its channel."""

    spread: float = 0.2
    """Fraction of the frame interval over which a frame's chunks are spread (0 = as fast as possible);
    docs/design.md, "Pacing", has the trade-off measured."""
    burst_bytes: int = 16 * 1024
    """Bytes sent back-to-back before the pacer yields (bursts are lost at the browser's UDP socket)."""
    max_backlog_bytes: int = 256 * 1024
    """Queued + in-flight bytes above which the sender pauses in the middle of a frame."""
    start_backlog_bytes: int = 32 * 1024
    """A frame starts only when at most this much of older frames is still queued or in flight (else it
    waits, and is skipped if a newer one is ready first); docs/design.md, "Pacing", says why."""
    min_rate_bytes: float = 8e6
    """Floor on the pacing rate, bytes/s, so small frames are not stretched needlessly."""


@dataclass
class SenderStats(SenderCounters):
    """The counters this viewer's sender keeps (fields: stream/messages.py, ``SenderCounters``)."""

    def as_dict(self) -> dict[str, int | float]:
        """Under their wire names (camelCase), as in /stats."""
        return wire_fields(self)


class ViewerSender:
    """Sends the broadcaster's frames to one viewer's point transport."""

    def __init__(self, sink: PointSink, broadcaster: FrameBroadcaster,
                 pacing: PacingOptions = PacingOptions(), label: str = "viewer",
                 fit: FitOptions = FitOptions()) -> None:
        self.sink = sink
        self.broadcaster = broadcaster
        self.pacing = pacing
        self.stats = SenderStats()
        self.fitter = LinkFitter(fit, broadcaster.fps) if fit.enabled and sink.acknowledged_backlog() else None
        """None: every chunk of every frame (fitting off, or a transport whose backlog says nothing)."""
        self.watch: Watch | None = None
        """This sender's claim on the broadcaster, if it has one: a fitted sender sets its share (how much of
        each frame is encoded for it)."""
        self.paused = False
        self.sending = False
        """True while a frame is going out (a frame once started is finished, paused or not)."""
        self._label = label
        self._last_id: int | None = None
        """The frame last taken up (sent, or passed over while paused or behind a busy link)."""
        self._seen_id: int | None = None
        """The newest frame accounted for in the stats; ``_waiting`` if not taken up yet."""
        self._waiting = False

    async def run(self) -> None:
        """Send until the channel closes or the stream ends. Cancel to stop."""
        try:
            while self.sink.is_open:
                frame = await self.broadcaster.wait_newer(self._last_id)
                if frame is None:
                    break
                self._account(frame.frame_id)
                self._last_id, self._waiting = frame.frame_id, False
                if self.paused:
                    continue
                if not await self._wait_for_room(frame):
                    self.stats.frames_skipped += 1
                    continue
                await self._send_frame(frame)
        except (ConnectionError, RuntimeError) as exc:  # transport closed under us
            logger.debug("%s: sender stopped: %s", self._label, exc)
        finally:
            if self._waiting:  # the stream ended or the link closed with a newer frame still unsent
                self.stats.frames_skipped += 1
                self._waiting = False
            logger.debug("%s: sender done %s", self._label, self.stats)

    def _account(self, frame_id: int) -> None:
        """Count the frames that passed this viewer by on the way to ``frame_id``, which is now the newest
        one seen. Called when a frame is taken up and also while a frame is stuck behind a full link, so
        the stats show a stalled viewer's skipped frames at once. A frame seen while waiting is not
        skipped yet: if it is still the newest when the link frees up, it is the one sent next."""
        if self._seen_id is not None:
            gap = (frame_id - self._seen_id) & 0xFFFFFFFF
            if not 0 < gap < 0x80000000:
                return
            self.stats.frames_skipped += gap - 1 + self._waiting
        self._seen_id, self._waiting = frame_id, True

    def _newer_ready(self, frame: EncodedFrame) -> bool:
        latest = self.broadcaster.latest
        return latest is not None and latest.frame_id != frame.frame_id

    async def _wait_for_room(self, frame: EncodedFrame) -> bool:
        """Wait until the backlog is small; False if a newer frame became ready meanwhile. A fitted sender
        waits only for a link that holds more than ``_backlog_limit()``: the fit takes a smaller backlog
        off the frame's budget."""
        backlog, delay = self.sink.backlog(), POLL_MIN
        limit = self._backlog_limit() if self.fitter else self.pacing.start_backlog_bytes
        while backlog > limit:
            if self._newer_ready(frame) or not self.sink.is_open:
                return False
            backlog, delay = await self._poll(backlog, delay)
        return True

    async def _poll(self, last_backlog: int, delay: float) -> tuple[int, float]:
        """Sleep one poll interval and read the backlog again: every 2 ms while it drains, backing off
        to 50 ms while it does not (a frozen viewer's sender then wakes 20 times a second, not 500)."""
        await asyncio.sleep(delay)
        backlog = self.sink.backlog()
        return backlog, POLL_MIN if backlog < last_backlog else min(POLL_MAX, 2 * delay)

    async def _send_frame(self, frame: EncodedFrame) -> None:
        self.sending = True
        try:
            await self._send_chunks(frame)
        finally:
            self.sending = False

    def _backlog_limit(self) -> int:
        """Unacknowledged bytes above which the sender waits: ``max_backlog_bytes``, or for a fitted sender
        two frames at its rate plus what the path holds (a fast long link carries more than 256 KiB in
        flight; a frozen viewer's rate falls to the minimum within a few frames, and this limit with it)."""
        if self.fitter is None:
            return self.pacing.max_backlog_bytes
        return max(self.pacing.max_backlog_bytes,
                   int(2 * self.fitter.rate * (self.fitter.interval + self.fitter.path_rtt)))

    def _fit(self, frame: EncodedFrame) -> tuple[tuple[bytes, ...], FrameBudget | None]:
        """The chunks of ``frame`` this viewer gets (a prefix, relabelled with its length), and the budget."""
        if self.fitter is None or not frame.messages:
            return frame.messages, None
        self.fitter.observe_rtt(self.sink.round_trip())
        backlog = self.sink.backlog()
        plan = self.fitter.budget([len(m) for m in frame.messages], backlog, time.monotonic(),
                                  self.stats.bytes_sent - backlog, frame.chunk_count)
        if self.watch is not None:
            self.watch.share = min(1.0, plan.wanted * SHARE_HEADROOM + 2 / frame.chunk_count)
        # the frame, and what the path holds in flight meanwhile, may go out at once
        self.sink.allow_in_flight(backlog + sum(len(m) for m in frame.messages[:plan.chunks])
                                  + int(self.fitter.rate * self.fitter.path_rtt))
        if plan.chunks == len(frame.messages):
            return frame.messages, plan
        return tuple(with_chunks_sent(m, plan.chunks) for m in frame.messages[:plan.chunks]), plan

    def viewer_report(self, fields: dict[str, object]) -> None:
        """The viewer's viewerStats (docs/protocol.md): its frames received and drawn per second."""
        if self.fitter is not None:
            self.fitter.viewer_report(fields.get("fps"), fields.get("drawnFps"))
            self.stats.viewer_share = round(self.fitter.viewer_share, 3)

    def _acknowledged(self) -> int:
        """Bytes of this viewer's chunks the link has acknowledged (or given up on) so far."""
        return self.stats.bytes_sent - self.sink.backlog()

    def _at_halfway(self, plan: FrameBudget, slack: int) -> None:
        if self.sink.is_open:
            LinkFitter.at_halfway(plan, self._acknowledged(), slack)

    def _at_deadline(self, plan: FrameBudget, slack: int) -> None:
        assert self.fitter is not None
        if not self.sink.is_open:
            return
        self.fitter.at_deadline(plan, time.monotonic(), self._acknowledged(), slack)
        self.stats.rate_decreases, self.stats.rate_increases = self.fitter.decreases, self.fitter.increases
        self._show_rate()

    def _show_rate(self) -> None:
        self.stats.rate_estimate_mbit = round(self.fitter.rate / MBIT, 2) if self.fitter else 0.0

    async def _send_chunks(self, frame: EncodedFrame) -> None:
        interval = 1.0 / self.broadcaster.fps
        window = self.pacing.spread * interval
        messages, plan = self._fit(frame)
        nbytes = sum(len(m) for m in messages)
        rate = max(self.pacing.min_rate_bytes, nbytes / window) if window > 0 else float("inf")
        started = time.monotonic()
        sent_bytes = 0
        burst = 0
        for message in messages:
            if not self.sink.is_open:
                return
            if burst >= self.pacing.burst_bytes:
                burst = 0
                due = started + sent_bytes / rate
                delay = due - time.monotonic()
                await asyncio.sleep(max(0.0, delay))
                # a frame once started is finished (a whole frame late beats many partial ones);
                # the frames that pass meanwhile are skipped, all but the newest, which goes next
                backlog, poll = self.sink.backlog(), POLL_MIN
                while backlog > self._backlog_limit():
                    if not self.sink.is_open:
                        return
                    latest = self.broadcaster.latest
                    if latest is not None:
                        self._account(latest.frame_id)  # newer frames pass by while we wait
                    backlog, poll = await self._poll(backlog, poll)
            await self.sink.send(message)
            sent_bytes += len(message)
            burst += len(message)
            self.stats.chunks_sent += 1
            self.stats.bytes_sent += len(message)
        self.stats.frames_sent += 1
        share = len(messages) / frame.chunk_count if frame.messages else 1.0
        self.stats.fitted_share = round(share, 3)
        self.stats.points_offered += frame.point_count
        self.stats.points_sent += round(frame.point_count * share)
        if plan is not None:
            plan.sent_through = self.stats.bytes_sent
            slack = 2 * max(len(m) for m in messages)
            loop = asyncio.get_running_loop()
            loop.call_later(max(0.0, plan.halfway - time.monotonic()), self._at_halfway, plan, slack)
            loop.call_later(max(0.0, plan.deadline - time.monotonic()), self._at_deadline, plan, slack)
            self._show_rate()
