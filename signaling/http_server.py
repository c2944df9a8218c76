"""The HTTP server under both apps (streamer and rendezvous): aiohttp's, with the connection guards it lacks.

- **Parser errors as JSON.** A request aiohttp cannot parse (an unknown method, a space or a raw
  non-ASCII byte in the path, a line over 8,190 bytes, a bad header) never reaches the app and its
  middlewares: aiohttp answers it itself, ``text/plain`` echoing the request line, and logs a traceback
  at ERROR. Here it is ``{"error": "..."}`` like every other error, logged in one line at INFO.
- **Header timeout.** A connection must deliver a complete request head within
  ``ConnectionLimits.header_timeout`` seconds of opening, or of its previous response (aiohttp's
  keep-alive timer, which also runs while a request head is incomplete; ``web.run_app`` sets 75 s, and
  connections that never finished their headers stayed open for good before).
- **Connections per address.** Past ``ConnectionLimits.per_address`` connections from one address at
  once, the next is answered 503 (JSON) and closed before anything is read.

aiohttp 3.14.5 has no hook for any of this in its public API. What is reached: ``AppRunner._make_server``
(the method runner subclasses implement) and ``Server._kwargs`` (the arguments every connection's
``RequestHandler`` is made with); ``RequestHandler.connection_made``, ``connection_lost`` and
``handle_error`` are public. tests/test_http_guard.py fails if aiohttp changes under them. Delete this
module when aiohttp lets an application answer parser errors and bound connections itself.
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from ssl import SSLContext
from typing import Any

from aiohttp import http_exceptions, web

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client connection may take of the server."""

    header_timeout: float = 15.0
    """Seconds to send a request head, from opening or from the previous response; idle keep-alive too."""
    per_address: int | None = 64
    """Connections one client address may hold at once; the next is refused with 503. None: no limit."""

    def __post_init__(self) -> None:
        if not self.header_timeout > 0:
            raise ValueError(f"the header timeout must be > 0 s, got {self.header_timeout:g}")
        if self.per_address is not None and self.per_address < 1:
            raise ValueError(f"connections per address must be >= 1, got {self.per_address}")


_REASONS: list[tuple[type[Exception], str]] = [
    (http_exceptions.BadHttpMethod, "unknown or malformed HTTP method"),
    (http_exceptions.InvalidURLError, "the request target has characters a URL cannot have"),
    (http_exceptions.LineTooLong, "a request line or header is too long"),
    (http_exceptions.BadStatusLine, "malformed request line"),
    (http_exceptions.InvalidHeader, "malformed header"),
    (http_exceptions.ContentLengthError, "malformed request body"),
    (http_exceptions.TransferEncodingError, "malformed request body"),
]


def parser_error_reason(exc: BaseException | None) -> str:
    """What was wrong with a request aiohttp could not parse, in words that do not echo the request."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "malformed HTTP request"


def _raw_json_response(status: int, phrase: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 10\r\n\r\n")
    return head.encode() + body


class _Addresses:
    """Open connections per client address."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        if self.limit is not None and self.open[address] >= self.limit:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class GuardedRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, answering parser errors with JSON and counting its address."""

    def __init__(self, manager: web.Server, addresses: _Addresses, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._addresses = addresses
        self._address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else "?"
        if not self._addresses.admit(address):
            logger.warning("503 for a connection from %s: already %d open from that address", address,
                           self._addresses.open[address])
            limit = self._addresses.limit
            message = f"too many connections from your address (at most {limit} at once); try again later"
            transport.write(_raw_json_response(503, "Service Unavailable", message))  # type: ignore[attr-defined]
            transport.close()
            return  # never started: aiohttp's server does not know this connection
        self._address = address
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._address is not None:
            self._addresses.release(self._address)
            self._address = None
        super().connection_lost(exc)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:  # an error of ours outside the app's middlewares: a bug
            logger.error("error serving a request from %s", request.remote, exc_info=exc)
            reason = "internal error"
        else:
            reason = parser_error_reason(exc)
            logger.info("%d for a request from %s: %s (%s)", status, request.remote, reason, type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("a response is under way: the error cannot be sent")
        response = web.json_response({"error": reason}, status=status)
        response.force_close()
        return response


class GuardedServer(web.Server):
    """aiohttp's connection factory, making GuardedRequestHandlers."""

    def __init__(self, plain: web.Server, limits: ConnectionLimits) -> None:
        super().__init__(plain.request_handler, request_factory=plain.request_factory,
                         handler_cancellation=plain.handler_cancellation, loop=asyncio.get_running_loop(),
                         **{**plain._kwargs, "keepalive_timeout": limits.header_timeout})
        self._addresses = _Addresses(limits.per_address)

    def __call__(self) -> web.RequestHandler:
        return GuardedRequestHandler(self, self._addresses, loop=self._loop, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are GuardedRequestHandlers."""

    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits

    async def _make_server(self) -> web.Server:
        return GuardedServer(await super()._make_server(), self.limits)


async def serve(app: web.Application, host: str, port: int, tls: SSLContext | None, limits: ConnectionLimits,
                on_listening: Callable[[int], None] = lambda port: None) -> None:
    """Serve ``app`` until cancelled, then shut it down (its on_shutdown and cleanup hooks run).
    ``on_listening`` gets the port once the socket listens (the one chosen when ``port`` is 0)."""
    runner = GuardedAppRunner(app, limits, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=tls)
        await site.start()
        on_listening(runner.addresses[0][1] if runner.addresses else port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(app: web.Application, host: str, port: int, tls: SSLContext | None, limits: ConnectionLimits,
        on_listening: Callable[[int], None]) -> None:
    """:func:`serve` until SIGINT or SIGTERM, as ``web.run_app`` does; OSError if it cannot listen."""
    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
        try:
            await serve(app, host, port, tls, limits, on_listening)
        except asyncio.CancelledError:
            logger.info("stopping")

    asyncio.run(main())
