"""The one place that knows how to reach aioice's ICE agent under an aiortc peer connection.

Private API (aiortc 1.16 / aioice 0.13): ``RTCPeerConnection.sctp`` (RTCSctpTransport) ``.transport``
(RTCDtlsTransport) ``.transport`` (RTCIceTransport) ``._connection`` (aioice ``Connection``). It exists
once the connection has a data channel (offerer) or a remote description (answerer). Everything read
or changed through it is read defensively: another version degrades to aiortc's own behaviour.
"""
from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection


def ice_connection(pc: RTCPeerConnection) -> Any | None:
    """``pc``'s aioice ``Connection``, None before it exists or when aiortc's internals differ."""
    ice = getattr(getattr(pc.sctp, "transport", None), "transport", None)
    return getattr(ice, "_connection", None)


REQUIRED = ("check_incoming", "check_state", "check_start_task", "get_component_candidates", "request_received",
            "_check_list", "_nominated")
"""What rtc/ice_gathering.py, ice_triggered_checks.py and ice_path.py use of aioice's ``Connection``."""


def missing_internals(connection_class: type) -> list[str]:
    """The names in ``REQUIRED`` that a fresh aioice ``Connection`` lacks."""
    probe = connection_class(ice_controlling=True)
    return [name for name in REQUIRED if not hasattr(probe, name)]
