"""Loss-tolerant congestion response for the unreliable point channel (aiortc's SCTP association).

SCTP, like TCP, treats every lost packet as congestion: aiortc halves its congestion window when a
SACK reports a gap, even when the lost chunk is abandoned and never sent again (``maxRetransmits:
0``). On a link with random loss (Wi-Fi, cellular, the emulated WAN at 2 %) that caps the point
channel at the loss-limited rate of TCP, ≈ MSS / RTT × 1.22 / √p (2 Mbit/s at 50 ms and 2 %),
however fast the link is, and the newest-frame-wins sender then skips most frames.

Real-time media does not do that: WebRTC's Google Congestion Control holds its rate while loss
stays below 10 % and backs off above it (draft-ietf-rmcat-gcc, section 6). We apply the same rule
to the point channel's association: a SACK's loss report leaves the congestion window unchanged
while the loss fraction measured over recent packets is below ``max_loss`` and the loss is
isolated packets on a link of 10 ms RTT or more; above it, when several consecutive packets are
lost (what an overflowing queue or socket buffer does, where GCC would see the delay grow first),
or on a short link (where halving costs little and loss is mostly a local receiver overflowing),
aiortc's standard response (halve, fast recovery) stands. Timeouts (T3, a second or more without any
acknowledgement) keep the standard response, so an outage still restarts from slow start.

The data in flight stays bounded: the window only grows while it is fully used, and our sender
never keeps more than ``PacingOptions.max_backlog_bytes`` queued or in flight, so the association
behaves as a paced, bounded window on a lossy link rather than an unbounded flood; sustained
loss above ``max_loss`` (a real bottleneck overflowing) brings the standard halving back.

A second adjustment keeps the loss recovery itself cheap. aiortc re-sends its FORWARD TSN (the
note that abandoned chunks will never come) after *every* SACK until one is acknowledged, and the
receiver answers every FORWARD TSN, stale or not, with a SACK: while a loss is being skipped, each
of those SACKs triggers another FORWARD TSN. With a window of a few hundred packets on a 50 ms
link these ping-pongs multiply until they take a whole core on both ends (measured: 4,000 SACKs/s
for 500 data packets/s). We send a given FORWARD TSN at most once per smoothed RTT; if it is lost,
the next SACK after that RTT sends it again.

A third makes one FORWARD TSN clear every hole behind it, not one. RFC 3758 lets the sender's
Advanced.Peer.Ack.Point pass only *abandoned* chunks at the front of its sent queue; aiortc stops at
the first chunk the receiver already acknowledged in a gap block, although that chunk arrived. So
each FORWARD TSN skips one lost chunk and the receiver's cumulative ack moves one hole per round trip
(20 per second at 50 ms), while a 2 % lossy link opens 15 or more per second: holes pile up. Chromium's
SCTP (dcsctp) reports at most 20 gap blocks per SACK; past 20 open holes, what arrives after the 20th
is never acknowledged, stays in the flight size, gets no miss indications (so its own losses are
never abandoned), and only the T3 timer (RTO of seconds) ends the stall, with the window back to one
packet. When a FORWARD TSN is due anyway, the point is advanced past every leading chunk that is
abandoned or already gap-acknowledged (unordered data only), up to the last message boundary
reached, so the receiver never discards part of a message it could still complete. This departs
from RFC 3758: passing a gap-acknowledged chunk is safe only if the receiver keeps what it
acknowledged. SCTP allows a receiver to renege (drop gap-acknowledged data under memory pressure);
neither dcsctp nor aiortc does. If one did, the reneged chunk's points would be lost, as if the
network had lost them: on this channel that costs points, never a stall. RTT samples are also no
longer taken from a chunk the cumulative ack passes after a gap block acknowledged it (Karn's rule in
spirit): such a sample measures how long the hole before it took to clear (median 345 ms against
52 ms on the WAN profile), and inflated the smoothed RTT, the FORWARD TSN hold and the RTO.
docs/protocol.md, "Congestion response", has the measurements.

This reads and writes aiortc 1.16 internals (the names in ``_REQUIRED``). :func:`install_loss_tolerance`
checks that they exist and leaves the association alone (standard SCTP) if they do not.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiortc.rtcsctptransport import SCTP_DATA_LAST_FRAG as _LAST_FRAG
from aiortc.rtcsctptransport import SCTP_DATA_UNORDERED as _UNORDERED
from aiortc.rtcsctptransport import SCTP_TSN_MODULO as _TSN_MODULO
from aiortc.utils import uint32_gte

logger = logging.getLogger(__name__)

_REQUIRED = ("_receive_sack_chunk", "_update_advanced_peer_ack_point", "_forward_tsn_chunk", "_srtt", "_cwnd",
             "_ssthresh", "_partial_bytes_acked", "_fast_recovery_exit", "_transmit", "_sent_queue",
             "_advanced_peer_ack_tsn", "_forward_tsn_streams", "_t3_cancel", "_t3_expired")
"""The aiortc 1.16 ``RTCSctpTransport`` attributes this module reads or replaces; chunks' ``_abandoned``,
``_acked``, ``_sent_count``, ``flags``, ``tsn``, ``stream_id`` and ``stream_seq`` too."""
#: FORWARD TSN repeat interval before the association has measured its RTT, seconds.
_DEFAULT_RTT = 0.2


@dataclass(frozen=True)
class LossToleranceOptions:
    """When packet loss is treated as random rather than as congestion."""

    max_loss: float = 0.10
    """Loss fraction below which a reported loss leaves the congestion window unchanged (GCC's 10 %)."""
    max_burst: int = 2
    """A loss report with more consecutive lost packets than this gets the standard response (a queue
    overflowing, not random loss)."""
    min_rtt: float = 0.010
    """Seconds: loss is tolerated only on an association whose smoothed RTT is at least this (docs/design.md,
    "The point channel's SCTP")."""
    window_packets: int = 1000
    """About how many recent packets the loss fraction is measured over (older ones decay)."""
    min_packets: int = 100
    """The fraction is taken over at least this many packets, so the first losses of a new
    association do not read as a high loss rate."""
    forward_past_received: bool = True
    """A FORWARD TSN also passes chunks the receiver already acknowledged in gap blocks (one clears every
    hole behind it); False: RFC 3758's rule, abandoned chunks only (for comparison)."""

    def __post_init__(self) -> None:
        if self.min_rtt < 0:
            raise ValueError(f"min_rtt must be >= 0, got {self.min_rtt}")
        if not 0 <= self.max_loss < 1:
            raise ValueError(f"max_loss must be in [0, 1), got {self.max_loss}")
        if self.window_packets < 1 or self.min_packets < 1 or self.max_burst < 1:
            raise ValueError("max_burst, window_packets and min_packets must be >= 1")


class SackLossMeter:
    """Packet loss fraction from the gap reports of SACKs.

    Each SACK acknowledges every TSN up to ``cumulative_tsn`` and the TSNs in its gap blocks
    (offsets from ``cumulative_tsn``). The highest TSN a SACK covers moves forward; each TSN it
    passes is counted once, as delivered or, if no block covers it, as lost. Lost SACKs only make
    the next step larger. Counts decay by half every ``window_packets`` packets. ``last_burst``
    tells isolated losses (a noisy link) from runs of consecutive ones (a queue overflowing).
    """

    def __init__(self, options: LossToleranceOptions = LossToleranceOptions()) -> None:
        self.options = options
        self.highest: int | None = None
        self.packets = 0.0
        self.lost = 0.0
        self.total_packets = 0
        self.total_lost = 0
        self.last_burst = 0
        """Longest run of consecutive missing TSNs among those the last SACK newly reported lost."""

    @property
    def fraction(self) -> float:
        return self.lost / max(self.packets, float(self.options.min_packets))

    def update(self, cumulative_tsn: int, gaps: Sequence[tuple[int, int]]) -> None:
        self.last_burst = 0
        top = max((end for _, end in gaps), default=0)
        highest = (cumulative_tsn + top) % _TSN_MODULO
        if self.highest is None:
            self.highest = highest
            return
        step = (highest - self.highest) % _TSN_MODULO
        if step == 0 or step >= _TSN_MODULO // 2:  # nothing new, or a SACK older than one already seen
            return
        # offsets (from cumulative_tsn) of the TSNs this SACK is the first to cover: (first, top]
        behind = (self.highest - cumulative_tsn) % _TSN_MODULO
        first = behind if behind < _TSN_MODULO // 2 else 0
        self.highest = highest
        lost = 0
        missing_from = 1  # offsets missing_from .. start-1 are missing before each block
        for start, end in sorted(gaps):
            if start > missing_from and start - 1 > first:
                lost += start - max(missing_from, first + 1)
                self.last_burst = max(self.last_burst, start - missing_from)
            missing_from = max(missing_from, end + 1)
        self._count(step, lost)

    def _count(self, packets: int, lost: int) -> None:
        self.total_packets += packets
        self.total_lost += lost
        self.packets += packets
        self.lost += lost
        if self.packets > self.options.window_packets:
            self.packets /= 2
            self.lost /= 2


@dataclass
class LossToleranceStats:
    losses_tolerated: int = 0
    """SACKs whose loss report left the congestion window unchanged."""
    losses_standard: int = 0
    """Loss reports that got the standard (halving) response: loss above ``max_loss``, a burst, or a short RTT."""
    forward_tsn_sent: int = 0
    forward_tsn_held: int = 0
    """FORWARD TSNs not repeated because the same one went out less than an RTT ago."""
    received_chunks_passed: int = 0
    """Gap-acknowledged chunks a FORWARD TSN passed beyond the abandoned ones RFC 3758 allows."""
    rtt_samples_skipped: int = 0
    """RTT samples not taken because the chunk had been gap-acknowledged before the cumulative ack passed it."""
    t3_expired: int = 0
    """Retransmission timeouts: nothing acknowledged for an RTO (a second or more); the window restarts at one
    packet."""
    window_opened: int = 0
    """Times the link fitter opened the window to fit a frame (``open_window``)."""


class LossTolerance:
    """Wraps one aiortc SCTP association's SACK handling (see the module docstring)."""

    def __init__(self, sctp: Any, options: LossToleranceOptions) -> None:
        self.sctp = sctp
        self.options = options
        self.meter = SackLossMeter(options)
        self.stats = LossToleranceStats()
        self._original: Callable[[Any], Awaitable[None]] = sctp._receive_sack_chunk
        self._original_advance: Callable[[], None] = sctp._update_advanced_peer_ack_point
        self._forward_tsn: tuple[int, float] | None = None
        """(cumulative TSN, monotonic time) of the last FORWARD TSN let through."""
        self._original_t3_expired: Callable[[], None] = sctp._t3_expired
        sctp._receive_sack_chunk = self._receive_sack_chunk
        sctp._update_advanced_peer_ack_point = self._update_advanced_peer_ack_point
        sctp._t3_expired = self._t3_expired

    def _random_loss(self) -> bool:
        """Whether the loss just reported looks like a noisy long link rather than congestion."""
        srtt = self.sctp._srtt
        return (self.meter.fraction < self.options.max_loss and self.meter.last_burst <= self.options.max_burst
                and srtt is not None and srtt >= self.options.min_rtt)

    def open_window(self, nbytes: int) -> None:
        """Let at least ``nbytes`` be in flight: a sender that paces and sizes its own data by the path's
        measured delay (stream/link_fit.py) must not be held to SCTP's window, which grows one packet per
        round trip and only while it is full (RFC 9260 7.2), so a frame-sized burst waits for it round trip
        after round trip. SCTP's own response to loss still shrinks it in between."""
        if nbytes > self.sctp._cwnd:
            self.sctp._cwnd = nbytes
            self.stats.window_opened += 1

    def describe(self) -> dict[str, Any]:
        """What the rule did, the loss it measured, the current window (Python names: /stats camel-cases them)."""
        srtt = self.sctp._srtt
        return {**vars(self.stats), "loss_pct": round(100 * self.meter.fraction, 2), "cwnd_bytes": int(self.sctp._cwnd),
                "srtt_ms": round(1000 * srtt, 1) if srtt is not None else None}

    def _update_advanced_peer_ack_point(self) -> None:
        sctp = self.sctp
        self._original_advance()
        if self.options.forward_past_received and sctp._forward_tsn_chunk is not None and self._pass_received():
            self._original_advance()  # rebuilds the FORWARD TSN for the point just moved
        chunk = sctp._forward_tsn_chunk
        if chunk is None:
            return
        now = time.monotonic()
        rtt = sctp._srtt if sctp._srtt is not None else _DEFAULT_RTT
        if self._forward_tsn is not None and self._forward_tsn[0] == chunk.cumulative_tsn \
                and now - self._forward_tsn[1] < rtt:
            sctp._forward_tsn_chunk = None  # the same one is on its way; its SACK will tell
            self.stats.forward_tsn_held += 1
            return
        self._forward_tsn = (chunk.cumulative_tsn, now)
        self.stats.forward_tsn_sent += 1

    def _t3_expired(self) -> None:
        self.stats.t3_expired += 1
        logger.debug("T3 expired (rto %.2f s, %d chunks outstanding)", self.sctp._rto, len(self.sctp._sent_queue))
        self._original_t3_expired()

    def _pass_received(self) -> bool:
        """Move Advanced.Peer.Ack.Point past the leading chunks that are abandoned or (unordered and)
        gap-acknowledged, up to the last message boundary among them; whether it moved."""
        queue = self.sctp._sent_queue
        run = 0
        boundary = 0
        received = 0
        for chunk in queue:
            if chunk._abandoned:
                pass
            elif chunk._acked and chunk.flags & _UNORDERED:
                received += 1
            else:
                break
            run += 1
            if chunk.flags & _LAST_FRAG:
                boundary, passed_received = run, received
        if boundary == 0:
            return False
        streams = self.sctp._forward_tsn_streams
        for _ in range(boundary):
            chunk = queue.popleft()
            self.sctp._advanced_peer_ack_tsn = chunk.tsn
            if chunk._abandoned and not chunk.flags & _UNORDERED:  # as RFC 3758 does for ordered streams
                streams[chunk.stream_id] = (chunk.stream_seq, chunk.tsn)
        self.stats.received_chunks_passed += passed_received
        if not queue:  # nothing outstanding: T3 now guards only the FORWARD TSN about to go out
            self.sctp._t3_cancel()
        return True

    def _skip_stale_rtt_sample(self, chunk: Any) -> None:
        """aiortc samples the RTT from the first chunk this SACK's cumulative ack passes, if sent once;
        when a gap block acknowledged that chunk earlier, the sample is how long the hole before it took
        to clear. Counting it as sent twice makes aiortc skip it (the chunk leaves the queue now anyway)."""
        queue = self.sctp._sent_queue
        if queue and queue[0]._acked and queue[0]._sent_count == 1 and uint32_gte(chunk.cumulative_tsn, queue[0].tsn):
            queue[0]._sent_count = 2
            self.stats.rtt_samples_skipped += 1

    async def _receive_sack_chunk(self, chunk: Any) -> None:
        sctp = self.sctp
        self._skip_stale_rtt_sample(chunk)
        if not chunk.gaps:  # nothing missing: the usual case on a clean link, no extra work
            self.meter.update(chunk.cumulative_tsn, ())
            await self._original(chunk)
            return
        self.meter.update(chunk.cumulative_tsn, chunk.gaps)
        was_recovering = sctp._fast_recovery_exit is not None
        saved = (sctp._cwnd, sctp._ssthresh, sctp._partial_bytes_acked)
        await self._original(chunk)
        if was_recovering or sctp._fast_recovery_exit is None:
            return  # no new loss response in this SACK
        if self._random_loss():
            sctp._cwnd, sctp._ssthresh, sctp._partial_bytes_acked = saved
            sctp._fast_recovery_exit = None
            self.stats.losses_tolerated += 1
            await sctp._transmit()  # the window the original call sent with was the halved one
        else:
            self.stats.losses_standard += 1
            logger.debug("loss %.1f %% (limit %.0f %%), %d in a row (limit %d), srtt %s s: standard congestion "
                         "response (cwnd %d)", 100 * self.meter.fraction, 100 * self.options.max_loss,
                         self.meter.last_burst, self.options.max_burst, sctp._srtt, sctp._cwnd)


_SET_ON_START = ("_ssthresh",)
"""Required attributes an association gets only when it starts: not on a fresh transport."""


def missing_internals(probe: Any) -> list[str]:
    """The names in ``_REQUIRED`` that ``probe`` (a fresh aiortc ``RTCSctpTransport``) lacks."""
    return [name for name in _REQUIRED if name not in _SET_ON_START and not hasattr(probe, name)]


def install_loss_tolerance(sctp: Any, options: LossToleranceOptions = LossToleranceOptions()
                           ) -> LossTolerance | None:
    """Make ``sctp`` (an aiortc ``RTCSctpTransport``) tolerate random loss; once per association.

    Returns None, leaving standard SCTP, if the aiortc internals this relies on are missing.
    """
    existing = getattr(sctp, "_loss_tolerance", None)
    if isinstance(existing, LossTolerance):
        return existing
    missing = [name for name in _REQUIRED if not hasattr(sctp, name)]
    if missing:
        logger.warning("aiortc SCTP lacks %s: keeping standard congestion control", ", ".join(missing))
        return None
    tolerance = LossTolerance(sctp, options)
    sctp._loss_tolerance = tolerance
    return tolerance
