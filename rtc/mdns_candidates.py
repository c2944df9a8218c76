"""The browser's mDNS host candidates, resolved off the answer's critical path.

Chrome hides host addresses behind random ``.local`` names. aiortc resolves them inside
``setRemoteDescription``, one second of timeout per name it cannot resolve (seen here: Chrome's
second host candidate), and the answer waits for all of them. We take the names out of the offer
instead, answer at once, and add the addresses that resolve afterwards as trickled candidates
(``addIceCandidate``). Meanwhile, and for names that never resolve (always, across a NAT), the
peer-reflexive candidate learned from the browser's own connectivity checks carries the connection.
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field

from aioice import mdns
from aiortc import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp

logger = logging.getLogger(__name__)

_CANDIDATE = re.compile(r"a=(candidate:\S+ \d+ \S+ \d+ (\S+\.local) .*)")
_END = "a=end-of-candidates"


@dataclass(frozen=True)
class DeferredCandidate:
    mid: str | None
    """``a=mid`` of the media section the candidate was in."""
    line_index: int
    """Index of that media section (``sdpMLineIndex``)."""
    attribute: str
    """The ``candidate:...`` attribute with the ``.local`` name."""
    name: str


@dataclass(frozen=True)
class MdnsDeferral:
    sdp: str
    """The offer without its ``.local`` candidates (and without end-of-candidates if it had any)."""
    candidates: list[DeferredCandidate] = field(default_factory=list)
    ended: bool = False
    """The offer said end-of-candidates: say it again once the deferred ones are added."""


def defer_mdns_candidates(sdp: str) -> MdnsDeferral:
    """Split an offer into what aiortc can use at once and the ``.local`` candidates to resolve later."""
    if ".local " not in sdp:
        return MdnsDeferral(sdp)
    out: list[str] = []
    deferred: list[tuple[int, str, str]] = []
    mids: dict[int, str] = {}
    section = -1
    ended = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            section += 1
        elif line.startswith("a=mid:"):
            mids[section] = line[6:].strip()
        if (m := _CANDIDATE.fullmatch(line)) is not None:
            deferred.append((section, m.group(1), m.group(2)))
            continue
        if line.strip() == _END:
            ended = True
            continue
        out.append(line)
    if not deferred:
        return MdnsDeferral(sdp)
    candidates = [DeferredCandidate(mids.get(i), max(i, 0), attribute, name) for i, attribute, name in deferred]
    return MdnsDeferral("\r\n".join(out) + "\r\n", candidates, ended)


async def resolve_deferred(candidates: list[DeferredCandidate], timeout: float = 1.0) -> list[RTCIceCandidate]:
    """The deferred candidates whose names resolved, with the address in place of the name."""
    names = sorted({c.name for c in candidates})
    if not names:
        return []
    try:
        protocol = await mdns.create_mdns_protocol()
    except OSError as exc:  # no multicast here: the peer-reflexive candidate will do
        logger.info("mDNS unavailable (%s); %d .local candidates left to peer-reflexive discovery", exc, len(names))
        return []
    try:
        found = dict(zip(names, await asyncio.gather(*(protocol.resolve(n, timeout) for n in names))))
    finally:
        await protocol.close()
    resolved = []
    for c in candidates:
        address = found[c.name]
        if not address:
            logger.debug("unresolvable candidate %s left to peer-reflexive discovery", c.name)
            continue
        candidate = candidate_from_sdp(c.attribute.split(":", 1)[1].replace(c.name, address, 1))
        candidate.sdpMid = c.mid
        candidate.sdpMLineIndex = c.line_index
        resolved.append(candidate)
    return resolved
