"""The rendezvous signaling server (``server.py signal``): streamers publish, browsers view, no points here.

A streamer behind a NAT connects *out* to ``/publish`` (WebSocket) and registers a stream name. A
browser opens ``/view/NAME``, gets its ICE servers from ``/view/NAME/config`` and posts its offer to
``/view/NAME/offer``; the server forwards the offer over the publisher's WebSocket, with ICE servers
minted for the publisher's side of that connection, and returns the publisher's answer. Both ends
gather their candidates before the offer and the answer, so candidates travel inside the SDP. The
message format is in docs/protocol.md ("Rendezvous signaling").
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from sfu.service import SfuSettings
from stream.untrusted_json import loads_bounded

from .cli import STREAM_NAME
from .client_files import CLIENT_DIR, add_client_routes, page
from .guard import DEFAULT_MAX_STREAMS, RateLimit, app_middlewares, json_error, rate_limited
from .ice import IceOptions
from .offers import MAX_OFFER_BYTES, OfferError, parse_offer
from .rendezvous_sfu import add_rendezvous_sfu, let_go, sfu_fields, take_in
from .responses import read_body

logger = logging.getLogger(__name__)

REGISTER_TIMEOUT = 10.0
"""Seconds a publisher has to say which stream it is, after connecting."""
ANSWER_TIMEOUT = 20.0
"""Seconds a publisher has to answer an offer (it gathers its candidates first, TURN included)."""
HEARTBEAT = 5.0
"""WebSocket ping interval; a publisher that stops answering is dropped after about twice this."""
PUBLISHER_MESSAGE_BYTES = 2 * MAX_OFFER_BYTES
"""Longest message a publisher may send (an answer carries an SDP)."""
CLOSE_REFUSED = 4400
CLOSE_FULL = 4503
CLOSE_NAME_TAKEN = 4409
CLOSE_REPLACED = 4410


@dataclass
class PublishedStream:
    """One registered publisher and the offers it has not answered yet."""

    name: str
    session: str
    ws: web.WebSocketResponse
    remote: str | None
    since: float = field(default_factory=time.time)
    offers_forwarded: int = 0
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    def fail_pending(self, reason: str) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(OfferError(502, reason))
        self.pending.clear()


@dataclass
class RendezvousConfig:
    ice: IceOptions = field(default_factory=IceOptions)
    client_dir: Path = CLIENT_DIR
    answer_timeout: float = ANSWER_TIMEOUT
    token: str | None = None
    """When set, viewers need it: the stream list, /streams and everything under /view/."""
    publish_token: str | None = None
    """When set, publishers need it on /publish (server.py: defaults to the viewers' token)."""
    offer_rate: RateLimit | None = field(default_factory=RateLimit)
    """Offers and publisher connections per client address; None: unlimited."""
    max_streams: int = DEFAULT_MAX_STREAMS
    sfu: SfuSettings | None = None
    """When set, a Janus runs beside this server and one published stream at a time is watched through it."""


CONFIG = web.AppKey("rendezvous_config", RendezvousConfig)
STREAMS = web.AppKey("streams", dict[str, PublishedStream])
_offer_ids = itertools.count(1)


def _stream_name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not STREAM_NAME.fullmatch(name):
        raise OfferError(400, f"{name!r} is not a valid stream name")
    return name


async def stream_list_page(request: web.Request) -> web.StreamResponse:
    return page(request.app[CONFIG].client_dir, "streams.html")


async def viewer_page(request: web.Request) -> web.StreamResponse:
    try:
        _stream_name(request)
    except OfferError as exc:
        return json_error(exc.status, str(exc))
    return page(request.app[CONFIG].client_dir, "index.html")


async def list_streams(request: web.Request) -> web.Response:
    streams = sorted(request.app[STREAMS].values(), key=lambda s: s.name)
    return web.json_response({"streams": [{"name": s.name, "since": s.since, "offers": s.offers_forwarded}
                                          for s in streams]})


async def viewer_config(request: web.Request) -> web.Response:
    body = request.app[CONFIG].ice.client_config(f"viewer@{request.remote}")
    return web.json_response({**body, **sfu_fields(request.app, request.match_info["name"])})


async def viewer_offer(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    if (limited := rate_limited(cfg.offer_rate, request)) is not None:
        return limited
    try:
        name = _stream_name(request)
        sdp = parse_offer(await read_body(request, MAX_OFFER_BYTES))
        stream = request.app[STREAMS].get(name)
        if stream is None:
            raise OfferError(404, f"no live stream named {name!r}")
        answer = await _forward(stream, sdp, request.remote, cfg)
    except OfferError as exc:
        return json_error(exc.status, str(exc))
    return web.json_response({"sdp": answer, "type": "answer"})


async def _forward(stream: PublishedStream, sdp: str, remote: str | None, cfg: RendezvousConfig) -> str:
    offer_id = next(_offer_ids)
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    stream.pending[offer_id] = future
    stream.offers_forwarded += 1
    try:
        # with --relay-only neither end is meant to learn the other's address, not even for its logs
        shown = None if cfg.ice.relay_only else remote
        async with asyncio.timeout(cfg.answer_timeout):  # sending too: a publisher that does not read
            await stream.ws.send_json({"type": "offer", "id": offer_id, "sdp": sdp, "remote": shown,
                                       "ice": cfg.ice.client_config(f"{stream.name}@{stream.remote}")})
            reply = await future
    except (ConnectionError, RuntimeError):
        raise OfferError(502, f"stream {stream.name!r}: publisher connection lost") from None
    except asyncio.TimeoutError:
        raise OfferError(504, f"stream {stream.name!r}: the publisher did not answer within "
                              f"{cfg.answer_timeout:.0f} s") from None
    finally:
        stream.pending.pop(offer_id, None)
    if reply.get("type") == "refused":
        status = reply.get("status")
        # a client error or "full" passes through; anything else the publisher says is a bad gateway
        passed = isinstance(status, int) and (400 <= status < 500 or status == 503)
        raise OfferError(status if passed else 502,
                         f"stream {stream.name!r} refused the offer: {reply.get('error')}")
    answer = reply.get("sdp")
    if not isinstance(answer, str) or not answer.startswith("v=0"):
        raise OfferError(502, f"stream {stream.name!r} sent an unusable answer")
    return answer


async def publish(request: web.Request) -> web.StreamResponse:
    """A streamer's WebSocket: register one stream name, then answer the offers forwarded to it."""
    if (limited := rate_limited(request.app[CONFIG].offer_rate, request)) is not None:
        return limited
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=PUBLISHER_MESSAGE_BYTES)
    await ws.prepare(request)
    streams = request.app[STREAMS]
    stream = await _register(ws, request, streams)
    if stream is None:
        return ws
    cfg = request.app[CONFIG]
    ingest = asyncio.create_task(take_in(request.app, stream.name, cfg.ice,
                                         lambda sdp: _forward(stream, sdp, None, cfg)))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            _on_publisher_message(stream, msg.data)
    finally:
        if streams.get(stream.name) is stream:
            del streams[stream.name]
        stream.fail_pending("publisher disconnected")
        await asyncio.gather(ingest, return_exceptions=True)
        await let_go(request.app, stream.name)
        logger.info("stream %r: publisher disconnected", stream.name)
    return ws


async def _register(ws: web.WebSocketResponse, request: web.Request,
                    streams: dict[str, PublishedStream]) -> PublishedStream | None:
    async def refuse(code: int, message: str) -> None:
        logger.info("publisher from %s refused: %s", request.remote, message)
        # "full" passes; a bad message or a taken name will not change by trying again
        await ws.send_json({"type": "error", "error": message, "retry": code == CLOSE_FULL})
        await ws.close(code=code, message=message[:100].encode())

    try:
        msg = await ws.receive(timeout=REGISTER_TIMEOUT)
    except asyncio.TimeoutError:
        await refuse(CLOSE_REFUSED, f"no register message within {REGISTER_TIMEOUT:.0f} s")
        return None
    if msg.type != WSMsgType.TEXT:
        return None
    try:
        hello = loads_bounded(msg.data, PUBLISHER_MESSAGE_BYTES, "register message")
    except ValueError:
        hello = None
    if not isinstance(hello, dict) or hello.get("type") != "register":
        await refuse(CLOSE_REFUSED, 'first message must be {"type": "register", "stream": NAME, "session": ID}')
        return None
    name, session = hello.get("stream"), hello.get("session")
    if not isinstance(name, str) or not STREAM_NAME.fullmatch(name):
        await refuse(CLOSE_REFUSED, f"stream name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        return None
    if not isinstance(session, str) or not 8 <= len(session) <= 128:
        await refuse(CLOSE_REFUSED, "session must be a string of 8-128 characters")
        return None
    old = streams.get(name)
    if old is not None:
        if old.session != session:
            await refuse(CLOSE_NAME_TAKEN, f"stream name {name!r} is already published")
            return None
        # the same publisher, back before its old connection timed out: the new connection wins
        old.fail_pending("publisher reconnected")
        await old.ws.close(code=CLOSE_REPLACED, message=b"replaced by a new connection of the same publisher")
    elif len(streams) >= request.app[CONFIG].max_streams:
        await refuse(CLOSE_FULL, f"this signaling server is full ({len(streams)} streams)")
        return None
    stream = PublishedStream(name, session, ws, request.remote)
    streams[name] = stream
    await ws.send_json({"type": "registered", "stream": name})
    logger.info("stream %r: published from %s", name, request.remote)
    return stream


def _on_publisher_message(stream: PublishedStream, text: str) -> None:
    try:
        msg = loads_bounded(text, PUBLISHER_MESSAGE_BYTES, "publisher message")
    except ValueError as exc:
        logger.info("stream %r: ignored a message: %s", stream.name, exc)
        return
    if not isinstance(msg, dict) or msg.get("type") not in ("answer", "refused"):
        logger.info("stream %r: ignored an unknown message", stream.name)
        return
    offer_id = msg.get("id")
    future = stream.pending.get(offer_id) if isinstance(offer_id, int) else None
    if future is not None and not future.done():
        future.set_result(msg)


async def _close_publishers(app: web.Application) -> None:
    streams = list(app[STREAMS].values())
    await asyncio.gather(*(s.ws.close(code=1001, message=b"signaling server shutting down") for s in streams),
                         return_exceptions=True)


def init_rendezvous_app(cfg: RendezvousConfig) -> web.Application:
    rules = [(path, cfg.token) for path in ("/", "/streams", "/view/") if cfg.token is not None]
    if cfg.publish_token is not None:
        rules.append(("/publish", cfg.publish_token))
    app = web.Application(client_max_size=MAX_OFFER_BYTES, middlewares=app_middlewares(rules))
    app[CONFIG] = cfg
    app[STREAMS] = {}
    app.router.add_get("/", stream_list_page)
    app.router.add_get("/streams", list_streams)
    app.router.add_get("/publish", publish)
    app.router.add_get("/view/{name}", viewer_page)
    app.router.add_get("/view/{name}/", viewer_page)
    app.router.add_get("/view/{name}/config", viewer_config)
    app.router.add_post("/view/{name}/offer", viewer_offer)
    if cfg.sfu is not None:
        add_rendezvous_sfu(app, cfg.sfu, cfg.offer_rate)
    add_client_routes(app, cfg.client_dir)
    app.on_shutdown.append(_close_publishers)
    return app
