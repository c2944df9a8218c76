"""What an offer's SDP must be before aiortc sees it: a data-channel offer, as WebRTC endpoints make them.

aiortc 1.16 answers some offers that it cannot use, and then fails where nobody listens: in the
connection task it starts after the answer (an offer without ``a=fingerprint`` fails an assertion
there; one with several transports raises there when the connection closes while it connects), or in
``close()`` (tests/test_offer_fuzz.py found both; rtc/peer_close.py). So an offer is checked first,
against the rules WebRTC itself applies, and refused with a 400 that says what was wrong:

- Line grammar (RFC 8866 section 5): ``<type>=<value>``, the type one lowercase letter SDP defines.
  A parser must not use a description with a type letter it does not understand (``M=VIDEO``).
- Exactly one media section: ``m=application`` over DTLS/SCTP with a port. Viewers open data channels
  only; an audio or video section would reach aiortc's media stack for nothing.
- ICE credentials and at least one DTLS fingerprint of a hash aiortc verifies, well formed (JSEP,
  RFC 8829 section 5.8: a description without a fingerprint is refused).
- A BUNDLE group names only that section.
- At most ``MAX_CANDIDATES`` candidates: browsers offer a handful, and each costs a connectivity
  check from every local candidate.
"""
from __future__ import annotations

import re

from aiortc.sdp import SessionDescription

MAX_CANDIDATES = 64
SDP_TYPES = frozenset("vosiuepcbtrzkam")
"""The line types of RFC 8866 (``k=`` obsolete but defined)."""
FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
"""The hashes aiortc 1.16 verifies a peer's certificate with, and their lengths."""
_HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})*")
_DATA_PROTOCOLS = frozenset({"UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "DTLS/SCTP"})


class SdpRefused(ValueError):
    """The offer breaks one of the rules above; the message says which."""


def check_data_channel_offer(sdp: str) -> SessionDescription:
    """The parsed offer, if it is one this streamer can answer; raises ``SdpRefused`` otherwise."""
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    for line in lines:
        if len(line) < 2 or line[1] != "=" or line[0] not in SDP_TYPES:
            raise SdpRefused(f"not an SDP line: {line[:40]!r}")
    candidates = sum(line.startswith("a=candidate:") for line in lines)
    if candidates > MAX_CANDIDATES:
        raise SdpRefused(f"{candidates} candidates; at most {MAX_CANDIDATES}")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises ValueError, IndexError, KeyError, AssertionError...
        raise SdpRefused(f"not a session description aiortc can read: {type(exc).__name__}") from None
    if len(parsed.media) != 1 or parsed.media[0].kind != "application":
        kinds = ", ".join(m.kind for m in parsed.media) or "none"
        raise SdpRefused(f"this streamer answers one data channel section (m=application) only; the offer has: "
                         f"{kinds}")
    media = parsed.media[0]
    if media.profile not in _DATA_PROTOCOLS or media.port == 0:
        raise SdpRefused(f"the m=application section must use DTLS/SCTP on a port, not {media.profile!r} on "
                         f"{media.port}")
    if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
        raise SdpRefused("the offer has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
    _check_fingerprints(media)
    for group in parsed.group:
        if group.semantic == "BUNDLE" and any(mid != media.rtp.muxId for mid in group.items):
            raise SdpRefused(f"the BUNDLE group names sections the offer does not have: {group.items[:5]}")
    return parsed


def _check_fingerprints(media: object) -> None:
    fingerprints = getattr(getattr(media, "dtls", None), "fingerprints", None) or []
    usable = [f for f in fingerprints if f.algorithm.lower() in FINGERPRINT_BYTES]
    if not usable:
        raise SdpRefused("the offer has no DTLS fingerprint (a=fingerprint:sha-256 ...)")
    for f in usable:
        size = FINGERPRINT_BYTES[f.algorithm.lower()]
        if not _HEX_PAIRS.fullmatch(f.value) or len(f.value) != 3 * size - 1:
            raise SdpRefused(f"the {f.algorithm} fingerprint is not {size} hexadecimal bytes")
