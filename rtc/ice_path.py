"""Which network path an aiortc peer connection ended up on: the selected ICE candidate pair.

aiortc's ``getStats()`` has no candidate-pair entries, so this reads aioice's nominated pair
(private API, aioice 0.13: ``Connection._nominated``; the connection reached as
rtc/ice_agent.py says).
"""
from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection

from .ice_agent import ice_connection


def selected_path(pc: RTCPeerConnection) -> dict[str, Any] | None:
    """``{"local": "host|srflx|prflx|relay", "remote": ..., "protocol": "udp|tcp", "relayProtocol": ...,
    "localAddress": "ip:port", "remoteAddress": "ip:port"}``, or None before a pair is selected."""
    connection = ice_connection(pc)
    nominated = getattr(connection, "_nominated", None) or {}
    pair = nominated.get(1)
    if pair is None:
        return None
    local, remote = pair.local_candidate, pair.remote_candidate
    relay_protocol = None
    if local.type == "relay":
        relay_protocol = "tls" if getattr(connection, "turn_ssl", False) else getattr(connection, "turn_transport", None)
    return {"local": local.type, "remote": remote.type, "protocol": local.transport.lower(),
            "relayProtocol": relay_protocol, "localAddress": f"{local.host}:{local.port}",
            "remoteAddress": f"{remote.host}:{remote.port}"}


def describe_path(path: dict[str, Any] | None) -> str:
    """One line for logs and the HUD: ``relay (tcp) → srflx``."""
    if not path:
        return "no pair selected"
    local = path["local"] + (f" ({path['relayProtocol']})" if path.get("relayProtocol") else "")
    return f"{local} → {path['remote']}"
