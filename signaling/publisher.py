"""The streamer's side of rendezvous signaling: connect out to ``/publish``, register, answer offers.

The WebSocket carries only signaling. When it drops (the signaling server restarts, the link goes
away), viewers already connected keep streaming over their own peer connections, and the publisher
reconnects with backoff and registers again under the same session id, so that the server lets it
take its name back even before it noticed the old connection was gone.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from stream.tasks import TaskSet
from stream.untrusted_json import loads_bounded
from viewers.answer import UnusableOffer, answer_offer
from viewers.peer import ViewerPeer
from viewers.settings import ViewerSettings

from .ice import IceOptions, rtc_configuration
from .offers import OfferError, check_capacity, check_offer

logger = logging.getLogger(__name__)

MAX_BACKOFF = 10.0
SIGNALING_MESSAGE_BYTES = 256 * 1024
"""Longest message taken from the signaling server (an offer carries an SDP and ICE servers)."""


class RegistrationRefused(RuntimeError):
    """The signaling server will not take this stream (name taken, bad name): retrying will not help."""


def publish_url(signaling: str) -> str:
    """``https://host:8443`` → ``wss://host:8443/publish``."""
    base = signaling.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + "/publish"
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):] + "/publish"
    if base.startswith(("ws://", "wss://")):
        return base if base.endswith("/publish") else base + "/publish"
    raise ValueError(f"--signaling expects an http(s):// URL, got {signaling!r}")


class Publisher:
    """Keeps one stream registered at a signaling server and answers its viewers' offers."""

    def __init__(self, signaling: str, stream: str, settings: ViewerSettings, ice: IceOptions | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 on_registered: Callable[[str], None] | None = None, token: str | None = None) -> None:
        self.url = publish_url(signaling)
        self.viewer_url = f"{signaling.rstrip('/')}/view/{stream}"
        self.stream = stream
        self.settings = settings
        self.ice = ice
        """Our own ICE flags; None = use what the signaling server sends with each offer."""
        self.ssl_context = ssl_context
        self.session = uuid.uuid4().hex
        self.token = token
        """Presented to the signaling server (its --publish-token)."""
        self.peers: set[ViewerPeer] = set()
        self.registrations = 0
        self._on_registered = on_registered
        self._tasks = TaskSet(f"publisher {stream!r}")

    async def run(self) -> None:
        """Stay registered until cancelled; raises RegistrationRefused if the server says no for good."""
        delay = 0.5
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    await self._session(http)
                    delay = 0.5  # it was up; start the backoff again
                    logger.warning("signaling connection closed; reconnecting in %.1f s", delay)
                except RegistrationRefused:
                    raise
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    logger.warning("signaling server %s unreachable (%s); retry in %.1f s", self.url,
                                   exc or type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)

    async def _session(self, http: aiohttp.ClientSession) -> None:
        ssl_arg: ssl.SSLContext | bool = self.ssl_context if self.ssl_context is not None else True
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            socket = await http.ws_connect(self.url, heartbeat=5.0, ssl=ssl_arg, max_msg_size=SIGNALING_MESSAGE_BYTES,
                                          timeout=aiohttp.ClientWSTimeout(ws_close=5.0), headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                raise RegistrationRefused("the signaling server refused the token (401): give its --publish-token "
                                          "with --token or --token-file") from None
            raise
        async with socket as ws:
            await ws.send_json({"type": "register", "stream": self.stream, "session": self.session})
            first = await ws.receive(timeout=10.0)
            reply = _json(first.data) if first.type == aiohttp.WSMsgType.TEXT else None
            if reply is None or reply.get("type") != "registered":
                error = reply.get("error") if reply else f"connection closed ({ws.close_code})"
                if reply is not None and reply.get("retry") is True:  # e.g. the server is full for now
                    raise ConnectionError(f"signaling server cannot take stream {self.stream!r} now: {error}")
                raise RegistrationRefused(f"signaling server refused stream {self.stream!r}: {error}")
            self.registrations += 1
            logger.info("published %r at %s (registration %d)", self.stream, self.viewer_url, self.registrations)
            if self._on_registered is not None:
                self._on_registered(self.viewer_url)
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                message = _json(msg.data)
                if message is not None and message.get("type") == "offer":
                    self._spawn(self._answer(ws, message))

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> None:
        offer_id = message.get("id")
        try:
            sdp = check_offer({"type": "offer", "sdp": message.get("sdp")})
            check_capacity(len(self.peers), self.settings.max_viewers)
            ice = self.ice.client_config(f"{self.stream}") if self.ice is not None else message.get("ice") or {}
            try:
                rtc = rtc_configuration(ice)
            except ValueError as exc:
                raise OfferError(502, f"unusable ICE configuration from the signaling server: {exc}") from None
            answer = await answer_offer(self.settings, self.peers, sdp, rtc, message.get("remote"))
            reply: dict[str, Any] = {"type": "answer", "id": offer_id, "sdp": answer.sdp}
        except UnusableOffer as exc:
            reply = {"type": "refused", "id": offer_id, "status": 400, "error": str(exc)}
        except OfferError as exc:
            reply = {"type": "refused", "id": offer_id, "status": exc.status, "error": str(exc)}
        except Exception:  # a bug of ours: the viewer still gets an answer, now, not a timeout
            logger.exception("offer %s: unexpected error while answering", offer_id)
            reply = {"type": "refused", "id": offer_id, "status": 500, "error": "internal error"}
        try:
            await ws.send_json(reply)
        except (ConnectionError, RuntimeError) as exc:  # the signaling connection went away meanwhile
            logger.info("offer %s: could not send the reply: %s", offer_id, exc or type(exc).__name__)

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    async def close(self) -> None:
        await self._tasks.close()
        await asyncio.gather(*(p.close() for p in list(self.peers)), return_exceptions=True)


def _json(text: str) -> dict[str, Any] | None:
    try:
        value = loads_bounded(text, SIGNALING_MESSAGE_BYTES, "signaling message")
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None
