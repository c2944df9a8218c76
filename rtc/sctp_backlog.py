"""How much of a data channel's data is still on its way, as far as the sender can tell.

``RTCDataChannel.bufferedAmount`` counts only what aiortc has not handed to SCTP yet; its SCTP
transport keeps an outbound queue and data in flight of its own. Private API (aiortc 1.16):
``RTCSctpTransport._outbound_queue`` and ``._flight_size``, read defensively: another version
degrades to ``bufferedAmount`` alone. The round trip the link fitter needs is ``._srtt``, read the same way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the producer process imports this module's constant, and aiortc takes 0.3 s
    from aiortc import RTCDataChannel

SCTP_PACKET_PAYLOAD = 1160
"""User data per SCTP packet in aiortc 1.16 (its USERDATA_MAX_LENGTH): one DATA chunk per packet."""


def channel_backlog(channel: RTCDataChannel) -> int:
    """Bytes accepted by ``channel`` and not yet acknowledged by the peer (queued or in flight)."""
    backlog = channel.bufferedAmount
    sctp = getattr(channel, "transport", None)
    queue = getattr(sctp, "_outbound_queue", None)
    if queue is not None:
        backlog += len(queue) * SCTP_PACKET_PAYLOAD + int(getattr(sctp, "_flight_size", 0))
    return backlog


def open_channel_window(channel: RTCDataChannel, nbytes: int) -> None:
    """Let at least ``nbytes`` of the channel's association be in flight, where its loss tolerance is installed
    (rtc/sctp_congestion.py, ``LossTolerance.open_window``); nothing otherwise."""
    tolerance = getattr(getattr(channel, "transport", None), "_loss_tolerance", None)
    if tolerance is not None:
        tolerance.open_window(nbytes)


def channel_round_trip(channel: RTCDataChannel) -> float | None:
    """The SCTP association's smoothed round-trip time, seconds (``RTCSctpTransport._srtt``, aiortc 1.16), or
    None before the first measurement or on another version."""
    srtt = getattr(getattr(channel, "transport", None), "_srtt", None)
    return float(srtt) if isinstance(srtt, (int, float)) else None
