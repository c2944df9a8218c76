"""ICE configuration shared by both ends: STUN/TURN servers, TURN credentials, relay-only policy.

With ``turn_secret`` the TURN credentials are coturn's REST-style time-limited ones
(``use-auth-secret`` / ``static-auth-secret`` in turnserver.conf): the username is
``<unix expiry>:<name>`` and the password is base64(HMAC-SHA1(secret, username)). They are minted per
peer connection, so a leaked pair stops working after ``ttl`` seconds and names who it was given to.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

DEFAULT_TTL = 3600.0
_STUN = re.compile(r"stun:(\[[0-9a-fA-F:.]+\]|[^:?\s\[\]]+)(:\d{1,5})?")
_TURN = re.compile(r"turns?:(\[[0-9a-fA-F:.]+\]|[^:?\s\[\]]+)(:\d{1,5})?(\?transport=(udp|tcp))?")


def rest_credential(secret: str, name: str, ttl: float, now: float | None = None) -> tuple[str, str]:
    """coturn's REST-API credential: (username, password), valid until now + ttl."""
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


@dataclass(frozen=True)
class IceOptions:
    """What the ``--stun/--turn/--turn-user/--turn-pass/--turn-secret/--relay-only`` flags say."""

    stun: list[str] = field(default_factory=list)
    turn: list[str] = field(default_factory=list)
    turn_user: str | None = None
    turn_pass: str | None = None
    turn_secret: str | None = None
    turn_ttl: float = DEFAULT_TTL
    relay_only: bool = False

    def __post_init__(self) -> None:
        for url in self.stun:
            if not _STUN.fullmatch(url):
                raise ValueError(f"--stun expects stun:HOST[:PORT], got {url!r}")
        for url in self.turn:
            if not _TURN.fullmatch(url):
                raise ValueError(f"--turn expects turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT], "
                                 f"got {url!r}")
            if url.startswith("turns:") and url.endswith("transport=udp"):
                raise ValueError(f"--turn {url!r}: turns: (TLS) runs over TCP only")
        if self.turn_secret is not None and (self.turn_user or self.turn_pass):
            raise ValueError("give either --turn-secret (time-limited credentials) or --turn-user/--turn-pass")
        if self.turn_secret is not None and not self.turn_secret:
            raise ValueError("--turn-secret must not be empty")
        if (self.turn_user is None) != (self.turn_pass is None):
            raise ValueError("--turn-user and --turn-pass go together")
        if self.turn and self.turn_secret is None and self.turn_user is None:
            raise ValueError("--turn needs credentials: --turn-secret, or --turn-user and --turn-pass")
        if not self.turn and (self.turn_secret or self.turn_user):
            raise ValueError("TURN credentials given without --turn URL")
        if self.relay_only and not self.turn:
            raise ValueError("--relay-only needs a --turn server to relay through")
        if not self.turn_ttl > 0:
            raise ValueError(f"TURN credential lifetime must be > 0 s, got {self.turn_ttl}")

    @property
    def policy(self) -> str:
        """The browser's ``iceTransportPolicy``."""
        return "relay" if self.relay_only else "all"

    def servers(self, name: str = "viewer", now: float | None = None) -> list[RTCIceServer]:
        """ICE servers for one peer connection, with fresh credentials when they are minted."""
        out = [RTCIceServer(urls=url) for url in self.stun]
        if self.turn:
            if self.turn_secret is not None:
                user, password = rest_credential(self.turn_secret, name, self.turn_ttl, now)
            else:
                user, password = self.turn_user or "", self.turn_pass or ""
            out.append(RTCIceServer(urls=list(self.turn), username=user, credential=password))
        return out

    def client_config(self, name: str = "viewer") -> dict[str, Any]:
        """What ``/config`` gives a browser, or the rendezvous server gives a publisher, for one connection."""
        return {"iceServers": servers_json(self.servers(name)), "iceTransportPolicy": self.policy}


def servers_json(servers: list[RTCIceServer]) -> list[dict[str, Any]]:
    """RTCIceServer in the browser's (and this project's wire) JSON shape."""
    out = []
    for server in servers:
        entry: dict[str, Any] = {"urls": server.urls}
        if server.username:
            entry["username"] = server.username
            entry["credential"] = server.credential
        out.append(entry)
    return out


def rtc_configuration(config: dict[str, Any]) -> RTCConfiguration:
    """An aiortc configuration from ``client_config()``'s JSON shape (validated: it may come off the wire)."""
    servers = config.get("iceServers", [])
    if not isinstance(servers, list):
        raise ValueError("iceServers must be a list")
    parsed = []
    for s in servers:
        if not isinstance(s, dict) or not isinstance(s.get("urls"), (str, list)):
            raise ValueError(f"bad ICE server entry {s!r}")
        parsed.append(RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")))
    policy = config.get("iceTransportPolicy", "all")
    if policy not in ("all", "relay"):
        raise ValueError(f"iceTransportPolicy must be 'all' or 'relay', got {policy!r}")
    # always a list, never None: aiortc falls back to a public STUN server when iceServers is None
    return RTCConfiguration(iceServers=parsed, iceTransportPolicy=RTCIceTransportPolicy(policy))


JANUS_TURN_TTL = 30 * 24 * 3600.0
"""Seconds a TURN credential minted for Janus (from --turn-secret) is valid: Janus takes one credential when it
starts, so it must outlive any stream; restart the streamer within this time."""


def janus_servers(ice: IceOptions, now: float | None = None) -> tuple[str, tuple[str, int, str, str] | None]:
    """The STUN server (``host:port``, '' for none) and the TURN server (host, port, user, password; None) that
    Janus should use, from the same flags as the viewers' (sfu/janus.py): the first --stun URL, the first
    --turn URL over UDP, with the fixed credential or one minted from the secret for JANUS_TURN_TTL."""
    stun = ""
    if ice.stun:
        host, _, port = ice.stun[0].removeprefix("stun:").partition(":")
        stun = f"{host}:{port or 3478}"
    udp = [url for url in ice.turn if url.startswith("turn:") and "transport=tcp" not in url]
    if not udp:
        return stun, None
    host, _, port = udp[0].removeprefix("turn:").split("?")[0].partition(":")
    if ice.turn_secret is not None:
        user, password = rest_credential(ice.turn_secret, "janus", JANUS_TURN_TTL, now)
    else:
        assert ice.turn_user is not None and ice.turn_pass is not None
        user, password = ice.turn_user, ice.turn_pass
    return stun, (host, int(port or 3478), user, password)
