"""Helpers for tests that run the streaming app or the rendezvous server in-process."""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from data.synthetic import SyntheticOptions, SyntheticSource
from signaling.app import ServerConfig, init_app
from signaling.ice import IceOptions
from stream.broadcaster import FrameBroadcaster
from stream.encoder import EncoderOptions
from stream.link_fit import FitOptions
from viewers.settings import ViewerSettings

MINIMAL_OFFER = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
                 "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
                 "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
                 f"a=fingerprint:sha-256 {':'.join(['AB'] * 32)}\r\na=setup:actpass\r\na=mid:0\r\n"
                 "a=sctp-port:5000\r\n")
"""The smallest offer that passes the streamer's checks (signaling/offer_sdp.py): one data channel section,
ICE credentials, a fingerprint; no candidates, so it never connects."""


def grid_error_bound(step: float, reach: float) -> float:
    """The farthest a SPHERICAL point may decode from where it was at a ``step`` (metres): that of rounding
    x, y and z to a grid of ``step`` (codec/spherical.py), plus float32 rounding of coordinates up to
    ``reach`` metres."""
    return step * math.sqrt(3) / 2 + reach * 2 ** -22


def server_config(broadcaster: FrameBroadcaster, **fields: Any) -> ServerConfig:
    """A ServerConfig for ``broadcaster``; ``fields`` of ViewerSettings and of ServerConfig, by name."""
    viewer_fields = {k: fields.pop(k) for k in list(fields) if k in ViewerSettings.__dataclass_fields__}
    return ServerConfig(ViewerSettings(broadcaster, **viewer_fields), **fields)


def make_app(fps: float = 10.0, quantize_mm: float = 0.0, ice: IceOptions | None = None,
             frames_per_pass: int | None = None, loop: bool = True, fit: FitOptions | None = None
             ) -> tuple[web.Application, FrameBroadcaster, SyntheticSource]:
    source = SyntheticSource(SyntheticOptions(fps=fps, frames_per_pass=frames_per_pass))
    options = EncoderOptions(quantize_mm=quantize_mm)
    broadcaster = FrameBroadcaster(source, options, fps, loop=loop)
    app = init_app(server_config(broadcaster, ice=ice or IceOptions(), fit=fit or FitOptions()))
    return app, broadcaster, source


async def register(ws: aiohttp.ClientWebSocketResponse, stream: str, session: str = "abcdefgh") -> dict[str, Any]:
    """Register ``stream`` on a rendezvous ``/publish`` socket, as a stand-in publisher; the server's reply."""
    await ws.send_json({"type": "register", "stream": stream, "session": session})
    reply: dict[str, Any] = await ws.receive_json(timeout=5)
    return reply


async def until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll ``condition`` every 0.1 s until it holds or ``timeout`` seconds pass (the caller asserts)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def terminate_promptly(streamer: Any, within: float = 5.0) -> None:
    """SIGTERM the streamer process (lab.process.StreamerProcess) as a service manager would: it must exit
    with 0 within ``within`` seconds (a live source's reader waiting for packets must not hold it)."""
    started = time.monotonic()
    streamer.proc.terminate()
    code = await asyncio.to_thread(streamer.proc.wait, 20)
    assert code == 0 and time.monotonic() - started < within, list(streamer.output)
