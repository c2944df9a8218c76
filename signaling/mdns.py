"""Resolve the browser's mDNS host candidates before aiortc sees the offer.

Chrome hides host addresses behind random ``.local`` names. aiortc resolves them one after the
other with a 1 s timeout each, and a name it cannot resolve (seen here: Chrome's second host
candidate) costs that full second before the answer goes out. We resolve them all at once, with a
shorter timeout, write the addresses into the offer and drop the names that did not resolve: the
peer-reflexive candidate learned from the browser's own connectivity checks covers those, as it
does across a NAT where mDNS never resolves.
"""
from __future__ import annotations

import asyncio
import logging
import re

from aioice import mdns

logger = logging.getLogger(__name__)

_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+\.local)( .*)$")


async def resolve_mdns_candidates(sdp: str, timeout: float = 0.2) -> str:
    lines = sdp.splitlines()
    names = {m.group(2) for line in lines if (m := _CANDIDATE.match(line))}
    if not names:
        return sdp
    try:
        protocol = await mdns.create_mdns_protocol()
    except OSError as exc:  # no multicast here: leave the names for aiortc
        logger.info("mDNS unavailable (%s); passing %d .local candidates through", exc, len(names))
        return sdp
    try:
        ordered = sorted(names)
        found = dict(zip(ordered, await asyncio.gather(*(protocol.resolve(n, timeout) for n in ordered))))
    finally:
        await protocol.close()
    out = []
    for line in lines:
        m = _CANDIDATE.match(line)
        if m is None:
            out.append(line)
        elif found[m.group(2)]:
            out.append(f"{m.group(1)}{found[m.group(2)]}{m.group(3)}")
        else:
            logger.debug("dropped unresolvable candidate %s", m.group(2))
    return "\r\n".join(out) + "\r\n"
