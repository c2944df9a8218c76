"""Unordered message reassembly for aiortc's *receiving* side (our headless Python viewer).

aiortc 1.16's ``InboundStream.pop_messages`` loses a complete unordered message after a lost last
fragment. With fragments ``A1 A2 | B1 B2`` and ``A2`` lost, its scan starts a message at ``A1``,
meets ``B1`` where it expected ``A2``, drops the attempt *and steps past B1*, so ``B`` is not
delivered; when the FORWARD TSN for ``A`` arrives, the receiver's cumulative TSN moves past ``B``
and ``B`` is pruned unseen. Every lost last fragment thus costs two messages: measured with
2-packet chunks and 2 % packet loss, 8 % of messages lost instead of 4 %. Browsers' SCTP stacks do
not do this; the streamer's side only receives reliable, ordered control messages.

We give the receiver's unordered streams a scan that restarts at the chunk that broke the
sequence. Ordered streams keep aiortc's own code.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from aiortc import rtcsctptransport as sctp_module

logger = logging.getLogger(__name__)

_FIRST = sctp_module.SCTP_DATA_FIRST_FRAG
_LAST = sctp_module.SCTP_DATA_LAST_FRAG
_UNORDERED = sctp_module.SCTP_DATA_UNORDERED


class UnorderedInboundStream(sctp_module.InboundStream):  # type: ignore[misc]
    """``InboundStream`` whose unordered messages are each delivered once all their fragments are in."""

    def pop_messages(self) -> Iterator[tuple[int, int, bytes]]:
        chunks = self.reassembly
        if not chunks or not (chunks[0].flags & _UNORDERED and chunks[-1].flags & _UNORDERED):
            yield from super().pop_messages()
            return
        i = 0
        while i < len(chunks):
            if not chunks[i].flags & _FIRST:
                i += 1
                continue
            j = i  # extend the run of consecutive TSNs from this first fragment to a last one
            while (not chunks[j].flags & _LAST and j + 1 < len(chunks)
                   and chunks[j + 1].tsn == sctp_module.tsn_plus_one(chunks[j].tsn) and not chunks[j + 1].flags & _FIRST):
                j += 1
            if chunks[j].flags & _LAST:
                first = chunks[i]
                data = b"".join(c.user_data for c in chunks[i:j + 1])
                del chunks[i:j + 1]
                yield first.stream_id, first.protocol, data
            else:
                i = j + 1  # incomplete: the chunk after the run may start a message of its own


def supported(sctp: Any) -> bool:
    """Whether ``sctp`` (an aiortc ``RTCSctpTransport``) has the internals this module replaces."""
    return isinstance(getattr(sctp, "_inbound_streams", None), dict) and hasattr(sctp, "_get_inbound_stream")


def use_unordered_reassembly(sctp: Any) -> bool:
    """Make ``sctp`` (an aiortc ``RTCSctpTransport``) create :class:`UnorderedInboundStream`s.

    Returns False, leaving aiortc's behaviour, if its internals are not the ones this was written for.
    """
    if not supported(sctp):
        logger.warning("aiortc SCTP internals differ: keeping its own unordered reassembly")
        return False
    streams = sctp._inbound_streams

    for stream in streams.values():  # streams opened already (the subclass adds no state)
        if type(stream) is sctp_module.InboundStream:
            stream.__class__ = UnorderedInboundStream

    def get_inbound_stream(stream_id: int) -> sctp_module.InboundStream:
        if stream_id not in streams:
            streams[stream_id] = UnorderedInboundStream()
        return streams[stream_id]

    sctp._get_inbound_stream = get_inbound_stream
    return True
