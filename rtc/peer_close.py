"""Closing an aiortc peer connection so that nothing of it stays open, even when aiortc's close fails.

aiortc 1.16's ``RTCPeerConnection.close()`` stops the transceivers, then the SCTP transport, then every
DTLS and ICE transport, in one sequence with no error handling: one step that raises skips the rest.
Seen: an offer whose BUNDLE group names a media section aiortc did not parse (``M=VIDEO``) leaves the
SCTP transport with no DTLS transport under it, and ``close()`` raises ``AttributeError`` from
``RTCSctpTransport.stop``, leaving the ICE transports (their UDP sockets) open. Calling ``close()``
again does not help: it awaits the first call's never-completed future, for ever.

:func:`close_peer_connection` calls ``close()`` once and, if it fails, stops every transport still
reachable through the public API (transceivers' receivers, the SCTP transport), each on its own.
Delete the fallback when aiortc's ``close()`` survives the offers in tests/test_offer_fuzz.py.
"""
from __future__ import annotations

import logging
from typing import Any

from aiortc import RTCPeerConnection

logger = logging.getLogger(__name__)


async def close_peer_connection(pc: RTCPeerConnection, label: str) -> None:
    """Close ``pc``; never raises (but for cancellation): what aiortc fails to stop is stopped here."""
    try:
        await pc.close()
        return
    except Exception as exc:
        logger.warning("%s: aiortc failed to close the connection (%s: %s); stopping its transports one by one",
                       label, type(exc).__name__, str(exc))
    for transport in _transports(pc):
        try:
            await transport.stop()
        except Exception as exc:
            logger.debug("%s: %s.stop() failed too: %s", label, type(transport).__name__, str(exc))
    pc.remove_all_listeners()


def _transports(pc: RTCPeerConnection) -> list[Any]:
    """SCTP, DTLS and ICE transports of ``pc``, upper layers first, each once."""
    dtls: list[Any] = [t.receiver.transport for t in pc.getTransceivers()]
    found: list[Any] = []
    if pc.sctp is not None:
        found.append(pc.sctp)
        dtls.append(pc.sctp.transport)
    for transport in dtls:
        if transport is not None and transport not in found:
            found.append(transport)
    for transport in list(found):
        ice = getattr(transport, "transport", None) if transport is not pc.sctp else None
        if ice is not None and ice not in found:
            found.append(ice)
    return found
