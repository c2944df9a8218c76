"""A viewer's offer, checked before anything is built for it or it is forwarded (viewers/answer.py answers it).

Used by the single-host app (``POST /offer``), by the rendezvous server (checked before it is
forwarded) and by the publisher (checked again before it is answered). Every refusal is an
``OfferError`` with an HTTP status and a message that says what was wrong.
"""
from __future__ import annotations

import re
from typing import Any

from stream.untrusted_json import loads_bounded

from .offer_sdp import SdpRefused, check_data_channel_offer

MAX_OFFER_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Characters no SDP line holds (CR and LF end lines; tab is allowed)."""


class OfferError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_offer(body: bytes) -> str:
    """The SDP of a JSON ``{"type": "offer", "sdp": "v=0..."}`` body."""
    if len(body) > MAX_OFFER_BYTES:
        raise OfferError(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
    try:
        params = loads_bounded(body, MAX_OFFER_BYTES, "body")
    except ValueError as exc:
        raise OfferError(400, str(exc)) from None
    return check_offer(params)


def check_offer(params: Any) -> str:
    """The SDP of an already decoded offer object."""
    if not isinstance(params, dict):
        raise OfferError(400, "body must be a JSON object with 'sdp' and 'type'")
    sdp, kind = params.get("sdp"), params.get("type")
    if kind != "offer":
        raise OfferError(400, "'type' must be \"offer\"")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise OfferError(400, "'sdp' must be an SDP session description starting with v=0")
    if len(sdp) > MAX_OFFER_BYTES:
        raise OfferError(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
    if "m=application" not in sdp:
        raise OfferError(400, "the offer has no data channel (m=application section)")
    if _CONTROL.search(sdp):
        raise OfferError(400, "'sdp' contains control characters")
    try:
        check_data_channel_offer(sdp)
    except SdpRefused as exc:
        raise OfferError(400, f"'sdp': {exc}") from None
    return sdp


def check_capacity(viewers: int, max_viewers: int | None) -> None:
    """503 when ``viewers`` already reach ``max_viewers`` (None: no limit)."""
    if max_viewers is not None and viewers >= max_viewers:
        raise OfferError(503, f"this streamer is full ({max_viewers} viewers); try again later")
