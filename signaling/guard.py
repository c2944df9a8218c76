"""What every HTTP request meets first, in both servers: errors as JSON, the token, the offer rate.

- Every error is JSON ``{"error": "..."}`` with a 4xx status that says what was wrong: aiohttp's own
  (404 unknown path, 405 wrong method, 413 body too large) included. Anything unexpected is logged
  with its traceback here and answered 500 ``{"error": "internal error"}``: no traceback reaches
  the client, and the server goes on serving everyone else.
- With a token, protected paths need it: ``Authorization: Bearer TOKEN``, ``?token=TOKEN`` (a link
  to the page), or the cookie the server sets when a page is opened with ``?token=`` (HttpOnly,
  SameSite=Strict, Secure under HTTPS), so that the page's own requests, its WebSocket and a reload
  after the client removes the token from the address bar carry it. Compared in constant time;
  never logged.
- New offers are rate-limited per client address (``RateLimit``), answered 429 with Retry-After.
"""
from __future__ import annotations

import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_MAX_STREAMS = 100
"""Live streams a rendezvous server takes at once (--max-streams)."""


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and exc.content_type == "application/json" else exc.reason
        if exc.status == 405:
            message = f"{request.method} is not allowed here"
        elif exc.status == 404:
            message = f"no such path: {request.path}"
        elif exc.status == 413:
            message = "request body too large"
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
        return json_error(exc.status, message, headers)
    except Exception:  # a bug: log it, tell the client nothing of the internals
        logger.exception("unexpected error serving %s %s", request.method, request.path)
        return json_error(500, "internal error")


TOKEN_COOKIE = "pointstream_token"


def presented_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer "):].strip()
    return request.query.get("token") or request.cookies.get(TOKEN_COOKIE)


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of any two strings: aiohttp hands bytes that are not UTF-8 over as lone
    surrogates, which ``surrogatepass`` encodes (one-to-one) instead of raising."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def app_middlewares(rules: Iterable[tuple[str, str]]) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    """An app's middlewares: JSON errors always, and the token guard when there are ``rules``."""
    rules = list(rules)
    return [json_errors, token_guard(rules)] if rules else [json_errors]


def token_guard(rules: Iterable[tuple[str, str]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: a request whose path starts with a prefix in ``rules`` (prefix → token) needs that
    token. The longest matching prefix decides; exact ``/`` matches only ``/``."""
    ordered = sorted(rules, key=lambda r: len(r[0]), reverse=True)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        for prefix, token in ordered:
            if request.path == prefix or (prefix != "/" and request.path.startswith(prefix)):
                presented = presented_token(request)
                if not token_matches(presented, token):
                    why = "no token" if presented is None else "wrong token"
                    logger.warning("401 for %s %s from %s: %s", request.method, request.path, request.remote, why)
                    return json_error(401, "this server needs a token: add ?token=... to the page address, or "
                                           "send Authorization: Bearer ...", {"WWW-Authenticate": "Bearer"})
                response = await handler(request)
                if "token" in request.query and not response.prepared:  # a link with the token: remember it
                    response.set_cookie(TOKEN_COOKIE, request.query["token"], httponly=True, samesite="Strict",
                                        secure=request.secure, path="/")
                return response
        return await handler(request)

    return guard


@dataclass
class RateLimit:
    """A token bucket per client address: ``burst`` offers at once, refilled at ``per_minute``."""

    per_minute: float = 30.0
    burst: int = 10
    max_clients: int = 10_000
    """Addresses remembered at most (oldest forgotten first), so that the table itself is bounded."""

    def __post_init__(self) -> None:
        if not self.per_minute > 0 or self.burst < 1:
            raise ValueError(f"offer rate must be > 0 per minute with a burst >= 1, got {self.per_minute}, "
                             f"{self.burst}")
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after(self, client: str, now: float | None = None) -> float:
        """0 when ``client`` may make another offer now (and count it), else seconds until it may."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (1.0 - tokens) / rate
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


def rate_limited(limit: RateLimit | None, request: web.Request) -> web.Response | None:
    """A 429 response when the request's address is over ``limit``, else None (and the offer counted)."""
    if limit is None:
        return None
    wait = limit.retry_after(request.remote or "?")
    if wait <= 0:
        return None
    logger.warning("429 for offers from %s (over %g per minute)", request.remote, limit.per_minute)
    return json_error(429, f"too many offers from your address: at most {limit.per_minute:g} per minute; "
                           f"retry in {wait:.0f} s", {"Retry-After": str(max(1, round(wait)))})
