"""A relay node's stream (``server.py relay URL``): taken from an upstream streamer, or from a stream of a
rendezvous server (``https://HOST/view/NAME``), as one viewer would take it, and fed to this node's Janus.

The node asks the upstream's ``/config`` for its ICE servers and answers through its ``/offer``, exactly as
a browser does, then passes every chunk on to its Janus tiers without decoding (sfu/ingest.py); the
upstream must send one-packet chunks (``--chunk-packets 1``, which ``--sfu janus`` implies there). So the
upstream sends one stream per node, whatever the audience of each node. When the connection is lost (the
upstream restarted, the network went away) the node connects again, backing off to 10 s between tries.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from sfu.ingest import Ingest
from sfu.janus import Tier

from .ice import rtc_configuration

logger = logging.getLogger(__name__)

RETRY_FIRST = 1.0
RETRY_MAX = 10.0
REQUEST_TIMEOUT = 20.0
STREAM_TIMEOUT = 30.0
"""Seconds from the answer to the upstream's first word on the connection before it counts as failed."""


class UpstreamError(Exception):
    """The upstream refused or answered something that is not a streamer's answer."""


class Upstream:
    """``await upstream.run()`` (until cancelled); ``ingest`` is the connection in use (None between two)."""

    def __init__(self, url: str, tiers: tuple[Tier, ...], feed_ip: str, token: str | None = None,
                 tls: ssl.SSLContext | None = None,
                 on_reconnected: Callable[[], Awaitable[None]] | None = None) -> None:
        """``on_reconnected``: called when the stream comes in again after a loss. A restarted upstream numbers
        its frames from 0 again, which viewers that saw later numbers would take for old frames: the node
        closes their sessions then, and they connect again afresh (the page does by itself)."""
        self.base = url.rstrip("/")
        self.on_reconnected = on_reconnected
        self.tiers = tiers
        self.feed_ip = feed_ip
        self.tls = tls
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ingest: Ingest | None = None
        self.connections = 0
        """Connections made so far (1 after the first; more after each loss)."""
        self.last_error: str | None = None

    def metadata(self) -> dict[str, Any]:
        """The upstream's hello fields, for the hello of this node's viewers."""
        return dict(self.ingest.metadata) if self.ingest is not None else {}

    async def wait_connected(self, timeout: float) -> bool:
        """Whether the stream is coming in, waiting up to ``timeout`` seconds for it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            ingest = self.ingest
            if ingest is not None and ingest.connected.is_set():
                return True
            await asyncio.sleep(min(0.1, remaining))
        return False

    def describe(self) -> dict[str, Any]:
        ingest = self.ingest
        return {"url": self.base, "connected": bool(ingest and ingest.connected.is_set()),
                "connections": self.connections, "lastError": self.last_error,
                "source": ingest.metadata.get("source") if ingest else None,
                "ingest": vars(ingest.stats) if ingest else None}

    async def run(self) -> None:
        retry = RETRY_FIRST
        async with aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                                         connector=aiohttp.TCPConnector(ssl=self.tls if self.tls else True)) as http:
            while True:
                try:
                    await self._connect_once(http)
                    retry = RETRY_FIRST
                except Exception as exc:  # refused, unreachable, or aiortc failing: said, and tried again
                    self.last_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, UpstreamError) else str(exc)
                    logger.warning("upstream %s: %s; trying again in %g s", self.base, self.last_error, retry)
                await asyncio.sleep(retry)
                retry = min(RETRY_MAX, 2 * retry)

    async def _connect_once(self, http: aiohttp.ClientSession) -> None:
        """One connection: from the offer until it is lost."""
        config = await self._json(http, "GET", "/config")
        ingest = Ingest(self.base, self.tiers, self.feed_ip, rtc_configuration(config))

        async def answer_for(sdp: str) -> str:
            answer = await self._json(http, "POST", "/offer", json={"sdp": sdp, "type": "offer"})
            if answer.get("type") != "answer" or not isinstance(answer.get("sdp"), str):
                raise UpstreamError("the upstream's /offer did not answer with an SDP answer")
            return str(answer["sdp"])

        self.ingest = ingest
        try:
            await ingest.connect(answer_for)
            try:
                await asyncio.wait_for(ingest.connected.wait(), STREAM_TIMEOUT)
            except asyncio.TimeoutError:
                raise UpstreamError(f"answered, but no stream came in within {STREAM_TIMEOUT:g} s") from None
            self.connections += 1
            self.last_error = None
            logger.info("upstream %s: connected (%s)", self.base, ingest.metadata.get("source"))
            if self.connections > 1 and self.on_reconnected is not None:
                await self.on_reconnected()
            await ingest.lost.wait()
            self.last_error = "connection lost"
            logger.warning("upstream %s: connection lost", self.base)
        finally:
            self.ingest = None
            await ingest.close()

    async def _json(self, http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async with http.request(method, self.base + path, **kwargs) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            if resp.status != 200:
                error = body.get("error") if isinstance(body, dict) else None
                raise UpstreamError(f"{path}: {resp.status} {error or resp.reason}")
            if not isinstance(body, dict):
                raise UpstreamError(f"{path}: not a JSON object")
            return body
