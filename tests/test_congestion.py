"""Loss-tolerant congestion response (rtc/sctp_congestion.py): the loss meter, the window rule, the
FORWARD TSN pacing, and a real aiortc association losing packets."""
from __future__ import annotations

import asyncio
import time
from collections import deque
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc.rtcsctptransport import (SCTP_DATA_FIRST_FRAG, SCTP_DATA_LAST_FRAG, SCTP_DATA_UNORDERED, DataChunk,
                                     RTCSctpTransport)

from rtc.sctp_backlog import SCTP_PACKET_PAYLOAD as MTU
from rtc.sctp_congestion import LossTolerance, LossToleranceOptions, SackLossMeter, install_loss_tolerance
from stream.sinks import DataChannelSink
from tests.sctp_pair import emulated_pair, lossy_pair, send_paced


# ----------------------------------------------------------------------------- loss meter
def test_meter_counts_each_tsn_once_as_delivered_or_lost() -> None:
    meter = SackLossMeter(LossToleranceOptions(min_packets=1))
    meter.update(100, ())  # starting point
    meter.update(100, [(2, 10)])  # 101 missing, 102..110 arrived
    assert (meter.total_packets, meter.total_lost) == (10, 1)
    meter.update(100, [(2, 12)])  # two more arrived; 101 still missing but already counted
    assert (meter.total_packets, meter.total_lost) == (12, 1)
    meter.update(112, ())  # 101 skipped (FORWARD TSN) or late: nothing new beyond 112
    assert (meter.total_packets, meter.total_lost) == (12, 1)
    meter.update(112, [(3, 4), (7, 8)])  # 113, 114, 117, 118 missing; 115, 116, 119, 120 arrived
    assert (meter.total_packets, meter.total_lost) == (20, 5)
    assert meter.fraction == pytest.approx(5 / 20)


def test_meter_reports_runs_of_consecutive_losses() -> None:
    meter = SackLossMeter(LossToleranceOptions(min_packets=1))
    meter.update(0, ())
    meter.update(0, [(2, 5), (7, 9)])  # isolated: 1 and 6 missing
    assert meter.last_burst == 1 and meter.total_lost == 2
    meter.update(0, [(2, 5), (7, 9), (14, 20)])  # 10..13 missing: four in a row
    assert meter.last_burst == 4 and meter.total_lost == 6
    meter.update(0, [(2, 5), (7, 9), (14, 21)])  # nothing newly missing
    assert meter.last_burst == 0 and meter.total_lost == 6


def test_meter_ignores_old_sacks_and_wraps_around() -> None:
    meter = SackLossMeter(LossToleranceOptions(min_packets=1))
    meter.update(2**32 - 3, ())
    meter.update(2**32 - 3, [(2, 5)])  # TSNs 2**32-2 (lost), 2**32-1, 0, 1, 2
    assert (meter.total_packets, meter.total_lost) == (5, 1)
    meter.update(2**32 - 3, [(2, 3)])  # an older SACK arriving late: nothing new
    assert (meter.total_packets, meter.total_lost) == (5, 1)
    meter.update(2, ())
    assert (meter.total_packets, meter.total_lost) == (5, 1)


def test_meter_needs_enough_packets_and_forgets_old_ones() -> None:
    meter = SackLossMeter(LossToleranceOptions(window_packets=100, min_packets=50))
    meter.update(0, ())
    meter.update(0, [(2, 10)])  # 1 of 10 lost: read over at least 50 packets
    assert meter.fraction == pytest.approx(1 / 50)
    tsn = 10
    for _ in range(30):  # 300 clean packets decay the old loss
        tsn += 10
        meter.update(tsn, ())
    assert meter.fraction < 0.005
    assert meter.packets <= 100


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_loss"):
        LossToleranceOptions(max_loss=1.5)
    with pytest.raises(ValueError, match="min_rtt"):
        LossToleranceOptions(min_rtt=-1)
    with pytest.raises(ValueError, match="window_packets"):
        LossToleranceOptions(window_packets=0)


# ----------------------------------------------------------------------------- window rule (a stand-in association)
class HalvingAssociation:
    """Only the aiortc attributes the rule touches; reacts to any gap as RFC 4960 does (halve, recover)."""

    def __init__(self) -> None:
        self._cwnd = 100 * MTU
        self._ssthresh = 200 * MTU
        self._partial_bytes_acked = 0
        self._fast_recovery_exit: int | None = None
        self._forward_tsn_chunk: Any = None
        self._srtt: float | None = 0.05
        self._sent_queue: deque[Any] = deque()
        self._advanced_peer_ack_tsn = 0
        self._forward_tsn_streams: dict[int, tuple[int, int]] = {}
        self.transmits = 0

    def _t3_cancel(self) -> None:
        pass

    def _t3_expired(self) -> None:
        pass

    async def _receive_sack_chunk(self, chunk: Any) -> None:
        if chunk.gaps and self._fast_recovery_exit is None:
            self._ssthresh = self._cwnd // 2
            self._cwnd = self._ssthresh
            self._fast_recovery_exit = chunk.cumulative_tsn + 50

    def _update_advanced_peer_ack_point(self) -> None:
        self._forward_tsn_chunk = SimpleNamespace(cumulative_tsn=7)

    async def _transmit(self) -> None:
        self.transmits += 1


def sack(cum: int, gaps: list[tuple[int, int]]) -> SimpleNamespace:
    return SimpleNamespace(cumulative_tsn=cum, gaps=gaps)


async def tolerant_association(options: LossToleranceOptions) -> tuple[HalvingAssociation, LossTolerance]:
    """A stand-in association with the rule installed and a first, loss-free SACK received."""
    sctp = HalvingAssociation()
    tolerance = install_loss_tolerance(sctp, options)
    assert tolerance is not None
    await sctp._receive_sack_chunk(sack(0, []))
    return sctp, tolerance


async def test_random_loss_keeps_the_window() -> None:
    sctp, tolerance = await tolerant_association(LossToleranceOptions(max_loss=0.10, min_packets=100))
    for cum in range(0, 1000, 50):  # 1 lost in every 50: 2 %
        await sctp._receive_sack_chunk(sack(cum, [(2, 50)]))
    assert sctp._cwnd == 100 * MTU and sctp._ssthresh == 200 * MTU
    assert sctp._fast_recovery_exit is None
    assert tolerance.stats.losses_tolerated == 20 and tolerance.stats.losses_standard == 0
    assert sctp.transmits == 20  # the window freed by the undo is used at once


async def test_heavy_loss_gets_the_standard_response() -> None:
    sctp, tolerance = await tolerant_association(LossToleranceOptions(max_loss=0.10, min_packets=100))
    for cum in range(0, 200, 10):  # 3 lost in every 10: 30 %
        await sctp._receive_sack_chunk(sack(cum, [(4, 10)]))
    assert sctp._cwnd < 100 * MTU
    assert tolerance.stats.losses_standard >= 1
    assert tolerance.meter.fraction > 0.10


async def test_a_run_of_lost_packets_gets_the_standard_response() -> None:
    sctp, tolerance = await tolerant_association(LossToleranceOptions(max_loss=0.10, max_burst=2, min_packets=100))
    await sctp._receive_sack_chunk(sack(0, [(4, 100)]))  # 1..3 lost in a row: 3 % only, but a burst
    assert sctp._cwnd == 50 * MTU and sctp._fast_recovery_exit is not None
    assert tolerance.stats.losses_standard == 1 and tolerance.stats.losses_tolerated == 0


async def test_a_short_link_gets_the_standard_response() -> None:
    sctp, tolerance = await tolerant_association(LossToleranceOptions(min_rtt=0.010, min_packets=100))
    sctp._srtt = 0.002  # loopback, LAN
    await sctp._receive_sack_chunk(sack(0, [(2, 100)]))
    assert sctp._cwnd == 50 * MTU and tolerance.stats.losses_standard == 1


async def test_a_forward_tsn_is_repeated_at_most_once_per_rtt() -> None:
    sctp = HalvingAssociation()
    tolerance = install_loss_tolerance(sctp)
    assert tolerance is not None
    sctp._update_advanced_peer_ack_point()
    assert sctp._forward_tsn_chunk is not None  # the first one goes out
    for _ in range(5):
        sctp._update_advanced_peer_ack_point()
        assert sctp._forward_tsn_chunk is None  # the same one, within the RTT: held
    assert tolerance.stats.forward_tsn_held == 5
    await asyncio.sleep(0.06)
    sctp._update_advanced_peer_ack_point()
    assert sctp._forward_tsn_chunk is not None  # an RTT later it is sent again (it may have been lost)
    assert tolerance.stats.forward_tsn_sent == 2


class ForwardingAssociation:
    """aiortc 1.16's own Advanced.Peer.Ack.Point rule, on a sent queue this test builds."""

    _update_advanced_peer_ack_point = RTCSctpTransport._update_advanced_peer_ack_point
    _receive_sack_chunk = HalvingAssociation._receive_sack_chunk
    _transmit = HalvingAssociation._transmit

    def __init__(self, chunks: list[tuple[int, str, str]]) -> None:
        """``chunks``: (TSN, "abandoned" | "acked" | "sent", fragment "F" | "L" | "FL" | "") after a
        cumulative ack of 100; all unordered unless the fragment string has "o"."""
        self._last_sacked_tsn = self._advanced_peer_ack_tsn = 100
        self._outbound_queue: deque[Any] = deque()
        self._sent_queue: deque[Any] = deque()
        self._forward_tsn_streams: dict[int, tuple[int, int]] = {}
        self._forward_tsn_chunk: Any = None
        self._srtt, self._cwnd, self._ssthresh, self._partial_bytes_acked = 0.05, 10 * MTU, 20 * MTU, 0
        self._fast_recovery_exit = None
        self.t3_cancelled = 0
        for tsn, state, frag in chunks:
            flags = (SCTP_DATA_FIRST_FRAG if "F" in frag else 0) | (SCTP_DATA_LAST_FRAG if "L" in frag else 0)
            chunk = DataChunk(flags | (0 if "o" in frag else SCTP_DATA_UNORDERED))
            chunk.tsn, chunk._sent_count = tsn, 1
            chunk._abandoned, chunk._acked = state == "abandoned", state == "acked"
            self._sent_queue.append(chunk)

    def _t3_cancel(self) -> None:
        self.t3_cancelled += 1

    def _t3_expired(self) -> None:
        pass


@pytest.mark.parametrize("chunks, rfc, ours, left", [
    # a hole, a received message, a hole, then a message half received: one FORWARD TSN passes both holes
    ([(101, "abandoned", "FL"), (102, "acked", "F"), (103, "acked", "L"), (104, "abandoned", "FL"),
      (105, "acked", "F"), (106, "sent", "L")], 101, 104, [105, 106]),
    # never into a message whose end is not received yet: the receiver would throw its start away
    ([(101, "abandoned", "FL"), (102, "acked", "F")], 101, 101, [102]),
    # an ordered (reliable) chunk received out of order stops it, as RFC 3758 would
    ([(101, "abandoned", "FL"), (102, "acked", "FLo"), (103, "abandoned", "FL")], 101, 101, [102, 103]),
    # everything outstanding passed: T3 no longer waits for data
    ([(101, "abandoned", "FL"), (102, "acked", "FL"), (103, "abandoned", "FL")], 101, 103, []),
])
def test_a_forward_tsn_passes_holes_and_received_messages_up_to_a_message_boundary(
        chunks: list[tuple[int, str, str]], rfc: int, ours: int, left: list[int]) -> None:
    plain = ForwardingAssociation(chunks)
    plain._update_advanced_peer_ack_point()
    assert plain._forward_tsn_chunk.cumulative_tsn == rfc  # aiortc's rule
    sctp = ForwardingAssociation(chunks)
    tolerance = install_loss_tolerance(sctp)
    assert tolerance is not None
    sctp._update_advanced_peer_ack_point()
    assert sctp._forward_tsn_chunk.cumulative_tsn == ours
    assert [c.tsn for c in sctp._sent_queue] == left and sctp.t3_cancelled == (0 if left else 1)
    assert tolerance.stats.received_chunks_passed == sum(1 for tsn, state, _ in chunks if state == "acked" and
                                                         tsn <= ours)


async def test_no_rtt_sample_from_a_chunk_a_gap_block_acknowledged_earlier() -> None:
    """Such a sample measures how long the hole before it took to clear, not the path."""
    sctp = ForwardingAssociation([(101, "acked", "FL"), (102, "sent", "FL")])
    tolerance = install_loss_tolerance(sctp)
    assert tolerance is not None
    await sctp._receive_sack_chunk(sack(101, []))
    assert sctp._sent_queue[0]._sent_count == 2 and tolerance.stats.rtt_samples_skipped == 1
    sctp._sent_queue.popleft()  # (aiortc's own handling would have taken it out)
    await sctp._receive_sack_chunk(sack(102, []))  # a chunk the cumulative ack is first to acknowledge: sampled
    assert sctp._sent_queue[0]._sent_count == 1 and tolerance.stats.rtt_samples_skipped == 1


def test_install_is_idempotent_and_refuses_unknown_internals() -> None:
    sctp = HalvingAssociation()
    first = install_loss_tolerance(sctp)
    assert isinstance(first, LossTolerance)
    assert install_loss_tolerance(sctp) is first
    assert install_loss_tolerance(SimpleNamespace(_cwnd=1)) is None  # another aiortc: left alone


# ----------------------------------------------------------------------------- a real aiortc association
@pytest.mark.parametrize("tolerant", [True, False])
async def test_real_association_keeps_its_window_under_random_loss(tolerant: bool) -> None:
    sender, receiver, channel, received, dropped = await lossy_pair(drop_every=40)  # 2.5 % of data packets
    try:
        sctp = sender.sctp
        # loopback's RTT is far below the default 10 ms floor: this link stands in for a long one
        tolerance = install_loss_tolerance(sctp, LossToleranceOptions(min_rtt=0)) if tolerant else None
        assert (tolerance is not None) == tolerant
        peak = [0]

        async def window_after_50_losses() -> None:
            while True:
                if dropped[0] >= 50:
                    peak[0] = max(peak[0], sctp._cwnd)
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(window_after_50_losses())
        await send_paced(channel, sctp, (bytes(2 * MTU) for _ in range(3000)))
        sampler.cancel()
        cwnd = sctp._cwnd  # before the tail: a loss among the very last packets can only end by timeout
        deadline = time.monotonic() + 30
        while (sctp._outbound_queue or sctp._flight_size) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert dropped[0] > 50
        # every message whose packets all arrived is delivered; nothing else stalls the channel
        assert 0.9 * 3000 < len(received) <= 3000 - dropped[0] // 2
        if tolerant:
            assert tolerance is not None and tolerance.stats.losses_tolerated > 10
            assert tolerance.stats.losses_standard == 0
            assert tolerance.stats.forward_tsn_held > 0
            # the window stays open through the losses; only a retransmission timeout (an event loop stalled for a
            # second on a loaded machine: the window restarts at one packet, by design) may keep it small: seen
            # in a clean-clone CI run with other tests loading the machine (peak 13 packets). Broken tolerance
            # shrinks the window by fast retransmit, with no timeout, and still fails here.
            assert peak[0] > 20 * MTU or tolerance.stats.t3_expired > 0, \
                f"window at most {peak[0]} bytes after 50 losses, no retransmission timeout"
            assert cwnd > 20 * MTU or tolerance.stats.t3_expired > 0, f"window {cwnd} bytes after {dropped[0]} losses"
        else:
            assert cwnd < 20 * MTU, f"standard SCTP kept {cwnd} bytes after {dropped[0]} losses?"
            assert peak[0] < 20 * MTU, f"standard SCTP reached {peak[0]} bytes after 50 losses?"
    finally:
        await sender.close()
        await receiver.close()


# ----------------------------------------------------------------------------- a receiver that reports 20 gaps (dcsctp)
async def stream_over_lossy_path(past_received: bool, seconds: float = 4.0) -> dict[str, float]:
    """Offer 600 single-packet messages a second (5.4 Mbit/s) for ``seconds``, with our sender's backlog rule,
    over a 50 ms path losing 5 % each way, to a receiver that reports at most 20 gap blocks (Chromium)."""
    sender, receiver, channel, arrivals, counters = await emulated_pair(rtt=0.05, loss=0.05, max_gap_blocks=20)
    sctp = sender.sctp
    try:
        tolerance = install_loss_tolerance(sctp, LossToleranceOptions(forward_past_received=past_received))
        assert tolerance is not None
        sctp._cwnd, sctp._ssthresh = 128 * 1024, 256 * 1024  # as after a while on this link (no slow start here)
        sink = DataChannelSink(channel)
        sent = unacknowledged = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if sink.backlog() <= 64 * 1024:  # room for more (stream/sender.py's rule, doubled)
                for _ in range(6):
                    channel.send(bytes(MTU - 40))
                    sent += 1
            unacknowledged = max(unacknowledged, len(sctp._sent_queue))
            await asyncio.sleep(0.01)
        return {"sent": sent, "delivered": len(arrivals), "unacknowledged": unacknowledged,
                "capped": counters["sacks_capped"], "passed": tolerance.stats.received_chunks_passed,
                "t3": tolerance.stats.t3_expired, "standard": tolerance.stats.losses_standard, "cwnd": sctp._cwnd}
    finally:
        for pc in (sender, receiver):
            pc.sctp._handle_data.task.cancel()  # type: ignore[union-attr]
            await pc.close()


async def test_a_forward_tsn_that_passes_received_chunks_keeps_a_chromium_receiver_acknowledging() -> None:
    """Issue 11, without a browser. With RFC 3758's rule (abandoned chunks only) each FORWARD TSN clears one
    hole per round trip; at 30 holes a second against 20 cleared, the chunks between the receiver's
    cumulative ack and the newest pile up into the hundreds, past the 20 gap blocks Chromium reports:
    what lies beyond is never acknowledged, the flight sticks at the window and T3 usually fires
    (measured: 1,500-1,600 of 3,000 messages delivered in 5 s, T3 in 4 of 5 runs). Passing the chunks the
    receiver already acknowledged keeps that backlog at a few dozen and the stream flowing (2,600
    delivered, no T3). Both variants in one run. Mutation check: ignoring forward_past_received fails it."""
    rfc = await stream_over_lossy_path(past_received=False)
    ours = await stream_over_lossy_path(past_received=True)
    assert rfc["unacknowledged"] > 150 and rfc["capped"] > 0, rfc  # the pile-up (pins aiortc 1.16's rule)
    # one retransmission timeout may come from an event loop stalled by a noisy machine (seen once in a clean-clone
    # CI run: 32 unacknowledged, nothing capped, 1 T3); the pile-up this guards against shows in the first two
    assert ours["unacknowledged"] < 100 and ours["capped"] == 0 and ours["t3"] <= 1 and ours["passed"] > 100, ours
    assert ours["delivered"] >= 0.85 * ours["sent"] and ours["sent"] > 0.45 * 600 * 4.0, (rfc, ours)
