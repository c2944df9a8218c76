"""Request bodies, read whole, with a bound on their size and on the time they take to arrive."""
from __future__ import annotations

import asyncio

from aiohttp import web

from .offers import OfferError

BODY_TIMEOUT = 15.0
"""Seconds a request body may take to arrive once its head has (a slow body held its request for ever)."""


async def read_body(request: web.Request, limit: int, timeout: float | None = None) -> bytes:
    """The whole JSON request body, at most ``limit`` bytes, however many packets it comes in, within
    ``timeout`` seconds (None: BODY_TIMEOUT)."""
    timeout = BODY_TIMEOUT if timeout is None else timeout
    if request.content_type != "application/json":
        raise OfferError(415, "send the offer as application/json")
    if request.content_length is not None and request.content_length > limit:
        raise OfferError(413, f"offer larger than {limit} bytes")

    async def whole() -> bytes:
        body = bytearray()
        while len(body) <= limit and (chunk := await request.content.read(limit + 1 - len(body))):
            body += chunk
        return bytes(body)

    try:
        body = await asyncio.wait_for(whole(), timeout)
    except asyncio.TimeoutError:
        raise OfferError(408, f"the request body did not arrive within {timeout:g} s") from None
    if len(body) > limit:
        raise OfferError(413, f"offer larger than {limit} bytes")
    return body
