"""Request bodies and error responses, the same for every endpoint: errors are JSON ``{"error": ...}``."""
from __future__ import annotations

from aiohttp import web

from .offers import OfferError


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The JSON request body, at most ``limit`` bytes; a larger one is refused without reading it all."""
    if request.content_type != "application/json":
        raise OfferError(415, "send the offer as application/json")
    if request.content_length is not None and request.content_length > limit:
        raise OfferError(413, f"offer larger than {limit} bytes")
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise OfferError(413, f"offer larger than {limit} bytes")
    return body
