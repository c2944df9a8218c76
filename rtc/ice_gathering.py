"""A cap on how long aiortc gathers ICE candidates before its offer or answer goes out.

aiortc does not trickle: the SDP waits for gathering, and aioice waits up to 5 s for its STUN and
TURN servers. Where UDP is blocked the STUN query never returns, and each end spent those 5 s (measured
in the NAT lab, tcp-only variant: 10.7 s to the first frame, 0.6 s without a STUN server). The browser
client waits at most 2 s for its own gathering (client/src/connection.js); the Python ends do the same.
A STUN or TURN server slower than that on the path is skipped for this connection: the other
candidates still connect, and a TURN allocation takes a few round trips, far below the cap.

Private API (aioice 0.13): ``Connection.get_component_candidates(..., timeout=5)``, the connection
reached as rtc/ice_agent.py says.
"""
from __future__ import annotations

import functools

from aiortc import RTCPeerConnection

from .ice_agent import ice_connection

GATHER_TIMEOUT = 2.0
"""Seconds; the browser client's cap too."""


def cap_gathering(pc: RTCPeerConnection, timeout: float = GATHER_TIMEOUT) -> bool:
    """Apply the cap to ``pc``'s ICE gatherer, which exists once it has a data channel (offerer) or a
    remote description (answerer). False when aiortc's internals are not as expected (nothing changed)."""
    connection = ice_connection(pc)
    gather = getattr(connection, "get_component_candidates", None)
    if gather is None:
        return False
    connection.get_component_candidates = functools.partial(gather, timeout=timeout)  # type: ignore[union-attr]
    return True
