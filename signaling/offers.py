"""A viewer's offer: checked before anything is built for it, then answered by a new ViewerPeer.

Used by the single-host app (``POST /offer``), by the rendezvous server (checked before it is
forwarded) and by the publisher (answered). Every refusal is an ``OfferError`` with an HTTP status and
a message that says what was wrong.
"""
from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from stream.broadcaster import FrameBroadcaster
from stream.congestion import LossToleranceOptions
from stream.sender import PacingOptions
from stream.untrusted_json import loads_bounded

from .offer_sdp import SdpRefused, check_data_channel_offer
from .path import describe_path
from .peer import ViewerPeer

logger = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
LIVE_PEER_CONNECTIONS: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()
"""Every peer connection made for a viewer that has not been garbage collected yet (leak check)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Characters no SDP line holds (CR and LF end lines; tab is allowed)."""


class OfferError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_offer(body: bytes) -> str:
    """The SDP of a JSON ``{"type": "offer", "sdp": "v=0..."}`` body."""
    if len(body) > MAX_OFFER_BYTES:
        raise OfferError(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
    try:
        params = loads_bounded(body, MAX_OFFER_BYTES, "body")
    except ValueError as exc:
        raise OfferError(400, str(exc)) from None
    return check_offer(params)


def check_offer(params: Any) -> str:
    """The SDP of an already decoded offer object."""
    if not isinstance(params, dict):
        raise OfferError(400, "body must be a JSON object with 'sdp' and 'type'")
    sdp, kind = params.get("sdp"), params.get("type")
    if kind != "offer":
        raise OfferError(400, "'type' must be \"offer\"")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise OfferError(400, "'sdp' must be an SDP session description starting with v=0")
    if len(sdp) > MAX_OFFER_BYTES:
        raise OfferError(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
    if "m=application" not in sdp:
        raise OfferError(400, "the offer has no data channel (m=application section)")
    if _CONTROL.search(sdp):
        raise OfferError(400, "'sdp' contains control characters")
    try:
        check_data_channel_offer(sdp)
    except SdpRefused as exc:
        raise OfferError(400, f"'sdp': {exc}") from None
    return sdp


def check_capacity(viewers: int, max_viewers: int | None) -> None:
    """503 when ``viewers`` already reach ``max_viewers`` (None: no limit)."""
    if max_viewers is not None and viewers >= max_viewers:
        raise OfferError(503, f"this streamer is full ({max_viewers} viewers); try again later")


@dataclass(frozen=True)
class PeerSettings:
    """How every viewer peer of this streamer is set up."""

    broadcaster: FrameBroadcaster
    pacing: PacingOptions
    loss_tolerance: LossToleranceOptions | None
    connect_timeout: float = 30.0
    max_viewers: int | None = None
    """Viewers at once; the next offer is refused with 503. None: no limit."""
    silence_timeout: float | None = 15.0
    """Seconds without a control message from a connected viewer before it is closed; None: never."""


async def answer_offer(settings: PeerSettings, peers: set[ViewerPeer], sdp: str, rtc: RTCConfiguration,
                       remote: str | None) -> RTCSessionDescription:
    """A new ViewerPeer for the offer, registered in ``peers`` until it closes; returns its answer.

    Raises only ``OfferError`` (and ``CancelledError``): whatever aiortc raises while answering, the peer
    is closed, which takes it out of ``peers``, before this returns."""
    pc = RTCPeerConnection(rtc)
    LIVE_PEER_CONNECTIONS.add(pc)
    peer = ViewerPeer(pc, settings.broadcaster, settings.pacing, settings.broadcaster.metadata(), peers.discard,
                      settings.connect_timeout, loss_tolerance=settings.loss_tolerance,
                      silence_timeout=settings.silence_timeout)
    peer.on_connected = lambda p: logger.info("%s: connected via %s", p.label, describe_path(p.path()))
    peers.add(peer)
    try:
        answer = await peer.answer(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:  # aiortc raises ValueError, AttributeError, KeyError... for SDP it cannot use
        logger.info("rejected offer from %s: %s: %s", remote, type(exc).__name__, str(exc))
        await peer.close()
        why = str(exc)[:200] if isinstance(exc, ValueError) else "aiortc could not answer it"
        raise OfferError(400, f"could not use the offer: {why}") from None
    except BaseException:  # cancelled while answering: the peer must not outlive the request that made it
        await peer.close()
        raise
    logger.info("%s: answered offer from %s", peer.label, remote)
    return answer
