"""The parts of Janus's HTTP API the signaling server uses for a viewer, and its admin API for tokens.

Janus answers a request at once with ``success`` (create, attach) or ``ack`` (a plugin message), and
delivers the plugin's answer later as an event on the session's long poll (``GET /janus/SESSION``). A
viewer's session is polled for as long as it lives, which also keeps it alive.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

STREAMING = "janus.plugin.streaming"
TIMEOUT = aiohttp.ClientTimeout(total=10)


class JanusError(RuntimeError):
    """Janus refused a request or answered something else than expected."""


def _transaction() -> str:
    return secrets.token_hex(6)


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url, json={"transaction": _transaction(), **body}, timeout=TIMEOUT) as resp:
        reply: dict[str, Any] = await resp.json(content_type=None)
    if reply.get("janus") == "error":
        error = reply.get("error", {})
        raise JanusError(f"Janus refused {body.get('janus')}: {error.get('code')} {error.get('reason')}")
    return reply


class Admin:
    """Janus's admin API (loopback only, behind its secret): the tokens that let a viewer use the API."""

    def __init__(self, http: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.http = http
        self.url = url
        self.secret = secret

    async def add_token(self, token: str) -> None:
        await _post(self.http, self.url, {"janus": "add_token", "token": token, "plugins": [STREAMING],
                                          "admin_secret": self.secret})

    async def remove_token(self, token: str) -> None:
        await _post(self.http, self.url, {"janus": "remove_token", "token": token, "admin_secret": self.secret})

    async def handle_info(self, session: int, handle: int) -> dict[str, Any]:
        reply = await _post(self.http, f"{self.url}/{session}/{handle}",
                            {"janus": "handle_info", "admin_secret": self.secret})
        info: dict[str, Any] = reply.get("info", {})
        return info


class StreamingViewer:
    """One viewer's Janus session and Streaming-plugin handle, made with that viewer's token."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.session = 0
        self.handle = 0
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=64)
        self._poller: asyncio.Task[None] | None = None

    async def open(self) -> None:
        reply = await _post(self.http, self.url, {"janus": "create", "token": self.token})
        self.session = int(reply["data"]["id"])
        self._poller = asyncio.create_task(self._poll())
        reply = await _post(self.http, f"{self.url}/{self.session}",
                            {"janus": "attach", "plugin": STREAMING, "token": self.token})
        self.handle = int(reply["data"]["id"])

    async def _poll(self) -> None:
        """Long-poll the session's events into the queue until closed."""
        url = f"{self.url}/{self.session}"
        while True:
            try:
                params = {"maxev": "5", "token": self.token, "rid": _transaction()}
                async with self.http.get(url, params=params, timeout=aiohttp.ClientTimeout(total=40)) as resp:
                    events = await resp.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                logger.debug("Janus session %d poll: %s", self.session, exc)
                await asyncio.sleep(1.0)
                continue
            for event in events if isinstance(events, list) else [events]:
                if event.get("janus") == "event" and event.get("transaction"):  # a plugin's answer
                    if self._events.full():
                        self._events.get_nowait()  # an answer nobody waited for any more
                    self._events.put_nowait(event)
                elif event.get("janus") != "keepalive":
                    logger.debug("Janus session %d: %s", self.session, event.get("janus"))

    async def _message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None,
                       wait: float = 10.0) -> dict[str, Any]:
        """Send a Streaming request and return the plugin's event that answers it (the one with its
        transaction: other events, such as a later ``started``, are passed over)."""
        transaction = _transaction()
        request: dict[str, Any] = {"janus": "message", "body": body, "token": self.token, "transaction": transaction}
        if jsep is not None:
            request["jsep"] = jsep
        await _post(self.http, f"{self.url}/{self.session}/{self.handle}", request)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise JanusError(f"no answer from Janus to {body.get('request')}")
            try:
                event = await asyncio.wait_for(self._events.get(), remaining)
            except asyncio.TimeoutError:
                continue
            data = event.get("plugindata", {}).get("data", {})
            if event.get("janus") == "event" and data and event.get("transaction") == transaction:
                if "error" in data:
                    raise JanusError(f"Streaming plugin refused {body.get('request')}: {data['error']}")
                return event

    async def watch(self, mountpoint: int) -> dict[str, Any]:
        """Ask for a mountpoint; returns Janus's offer (``{"type": "offer", "sdp": ...}``)."""
        event = await self._message({"request": "watch", "id": mountpoint})
        jsep = event.get("jsep")
        if not jsep or jsep.get("type") != "offer":
            raise JanusError("Janus answered watch without an offer")
        return {"type": "offer", "sdp": jsep["sdp"]}

    async def start(self, answer: dict[str, Any]) -> None:
        await self._message({"request": "start"}, jsep={"type": "answer", "sdp": answer["sdp"]})

    async def pause(self) -> None:
        await self._message({"request": "pause"})

    async def resume(self) -> None:
        await self._message({"request": "start"})

    async def switch(self, mountpoint: int) -> None:
        """Move the viewer to another mountpoint without renegotiating (a tier change)."""
        await self._message({"request": "switch", "id": mountpoint})

    async def close(self) -> None:
        if self._poller:
            self._poller.cancel()
        if self.session:
            try:
                await _post(self.http, f"{self.url}/{self.session}", {"janus": "destroy", "token": self.token})
            except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                logger.debug("Janus session %d destroy: %s", self.session, exc)
