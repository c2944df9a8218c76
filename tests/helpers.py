"""Helpers for tests that run the streaming app or the rendezvous server in-process."""
from __future__ import annotations

from typing import Any

import aiohttp

from aiohttp import web

from data.synthetic import SyntheticOptions, SyntheticSource
from signaling.app import ServerConfig, init_app
from signaling.ice import IceOptions
from stream.broadcaster import FrameBroadcaster
from stream.encoder import EncoderOptions


def make_app(fps: float = 10.0, quantize_mm: float = 0.0, ice: IceOptions | None = None,
             frames_per_pass: int | None = None, loop: bool = True) -> tuple[web.Application, FrameBroadcaster, SyntheticSource]:
    source = SyntheticSource(SyntheticOptions(fps=fps, frames_per_pass=frames_per_pass))
    options = EncoderOptions(quantize_mm=quantize_mm)
    broadcaster = FrameBroadcaster(source, options, fps, loop=loop)
    app = init_app(ServerConfig(broadcaster, ice or IceOptions()))
    return app, broadcaster, source


async def register(ws: aiohttp.ClientWebSocketResponse, stream: str, session: str = "abcdefgh") -> dict[str, Any]:
    """Register ``stream`` on a rendezvous ``/publish`` socket, as a stand-in publisher; the server's reply."""
    await ws.send_json({"type": "register", "stream": stream, "session": session})
    reply: dict[str, Any] = await ws.receive_json(timeout=5)
    return reply
