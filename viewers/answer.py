"""A viewer's offer, already checked (signaling/offers.py), answered by a new ViewerPeer that owns it from then on."""
from __future__ import annotations

import logging
import weakref

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from rtc.ice_path import describe_path

from .peer import ViewerPeer
from .settings import ViewerSettings

logger = logging.getLogger(__name__)

LIVE_PEER_CONNECTIONS: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()
"""Every peer connection made for a viewer that has not been garbage collected yet (leak check)."""


class UnusableOffer(ValueError):
    """aiortc could not answer the offer; the message says why, in words fit for the viewer."""


async def answer_offer(settings: ViewerSettings, peers: set[ViewerPeer], sdp: str, rtc: RTCConfiguration,
                       remote: str | None) -> RTCSessionDescription:
    """A new ViewerPeer for the offer, registered in ``peers`` until it closes; returns its answer.

    Raises only ``UnusableOffer`` (and ``CancelledError``): whatever aiortc raises while answering, the
    peer is closed, which takes it out of ``peers``, before this returns."""
    pc = RTCPeerConnection(rtc)
    LIVE_PEER_CONNECTIONS.add(pc)
    peer = ViewerPeer(pc, settings, peers.discard)
    peer.on_connected = lambda p: logger.info("%s: connected via %s", p.label, describe_path(p.path()))
    peers.add(peer)
    try:
        answer = await peer.answer(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:  # aiortc raises ValueError, AttributeError, KeyError... for SDP it cannot use
        logger.info("rejected offer from %s: %s: %s", remote, type(exc).__name__, str(exc))
        await peer.close()
        why = str(exc)[:200] if isinstance(exc, ValueError) else "aiortc could not answer it"
        raise UnusableOffer(f"could not use the offer: {why}") from None
    except BaseException:  # cancelled while answering: the peer must not outlive the request that made it
        await peer.close()
        raise
    logger.info("%s: answered offer from %s", peer.label, remote)
    return answer
