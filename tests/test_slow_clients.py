"""Clients that do not read what they are sent are cut off after a bounded backlog, whatever they send;
clients that send malformed control messages are counted, not disconnected (docs/security.md)."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from typing import Any

import pytest

from headless.receiver import PointReceiver, WebSocketReceiver
from signaling.app import PEERS, WS_VIEWERS
from stream.messages import Ping
from tests.helpers import make_app, until
from viewers.outbox import Outbox, OutboxLimits

DEEP = '{"type": "ping", "id": ' + "[" * 5000 + "]" * 5000 + "}"


# ---------------------------------------------------------------- the outbox itself
async def test_the_outbox_writes_in_order_one_at_a_time() -> None:
    written: list[str] = []

    async def write(text: str) -> None:
        await asyncio.sleep(0.001)
        written.append(text)

    box = Outbox(write, lambda why: pytest.fail(why), "t")
    task = asyncio.create_task(box.run())
    for i in range(50):
        assert box.put(str(i))
    while box.waiting:
        await asyncio.sleep(0.01)
    task.cancel()
    assert written == [str(i) for i in range(50)]


@pytest.mark.parametrize("limits, texts, why", [
    (OutboxLimits(max_messages=5), ["x"] * 7, "5 messages"),
    (OutboxLimits(max_chars=100), ["x" * 40] * 4, "(80 characters) wait"),
])
async def test_a_client_that_does_not_read_is_cut_off_past_a_bound(limits: OutboxLimits, texts: list[str],
                                                                   why: str) -> None:
    never = asyncio.Event()
    stuck: list[str] = []
    box = Outbox(lambda text: never.wait(), stuck.append, "t", limits)
    task = asyncio.create_task(box.run())
    await asyncio.sleep(0)
    accepted = [box.put(t) for t in texts]
    assert accepted[-1] is False and len(stuck) == 1 and why in stuck[0]
    assert box.waiting == 0 and box.put("more") is False and len(stuck) == 1  # told once, nothing kept
    task.cancel()


async def test_a_write_that_never_finishes_cuts_the_client_off_in_time() -> None:
    never = asyncio.Event()
    stuck: list[str] = []
    box = Outbox(lambda text: never.wait(), stuck.append, "t", OutboxLimits(max_wait=0.3))
    task = asyncio.create_task(box.run())
    box.put("hello")
    await asyncio.wait_for(task, 5)
    assert stuck and "took over" in stuck[0]


# ---------------------------------------------------------------- real clients
async def raw_websocket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client on a socket with a tiny receive buffer, which it never reads."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


def ws_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_a_websocket_viewer_that_sends_pings_and_never_reads_is_cut_off(aiohttp_server: Any) -> None:
    """Finding 2 of docs/security.md: such a client grew the server by ~110 MB/s, and its own traffic kept
    the heartbeat from ever dropping it. Mutation check: with one send task per control message again
    (viewers/websocket.py) the client is still connected after 20 s."""
    app, _, _ = make_app(fps=10)
    server = await aiohttp_server(app)
    reader, writer = await raw_websocket(server.port)
    writer.write(ws_text_frame(json.dumps({"type": "pause"})))  # no point chunks: only the pongs pile up
    ping = ws_text_frame(json.dumps({"type": "ping", "id": "x" * 64, "t0": 1.0}))
    deadline = time.monotonic() + 20
    cut_off = False
    while time.monotonic() < deadline and not cut_off:
        writer.write(ping * 200)
        try:
            await asyncio.wait_for(writer.drain(), 0.5)
        except asyncio.TimeoutError:
            pass
        except ConnectionError:
            cut_off = True
        await asyncio.sleep(0.01)
        cut_off = cut_off or writer.transport.is_closing() or reader.at_eof() or not app[WS_VIEWERS]
    writer.close()
    assert cut_off and not app[WS_VIEWERS]
    async with WebSocketReceiver(str(server.make_url("")).rstrip("/")) as rx:  # others are served
        assert len(await rx.wait_frames(2, timeout=30)) >= 2


async def test_a_webrtc_viewer_that_sends_and_never_acknowledges_is_cut_off(aiohttp_server: Any) -> None:
    """Its SCTP receives nothing (no SACKs go back), yet it keeps pinging: aiortc would queue the pongs for
    ever. It is closed for its backlog, long before its silence (it is not silent) or a timeout."""
    app, _, _ = make_app(fps=10)
    server = await aiohttp_server(app)
    async with PointReceiver(str(server.make_url("")).rstrip("/")) as rx:
        await rx.wait_frames(1, timeout=30)
        (peer,) = app[PEERS]
        sctp = rx.peer_connection.sctp
        handle = sctp._handle_data

        async def deaf(data: bytes) -> None:  # drop every packet whose first chunk is DATA (RFC 4960 3.2)
            if len(data) > 12 and data[12] == 0:
                return
            await handle(data)

        sctp._handle_data = deaf
        started = time.monotonic()
        while app[PEERS] and time.monotonic() - started < 15:
            for i in range(200):
                rx.send_control(Ping("y" * 64, float(i)))
            await asyncio.sleep(0.05)
        assert not app[PEERS], peer.describe()
        assert time.monotonic() - started < 15


async def test_malformed_control_messages_are_counted_and_the_viewer_keeps_streaming(aiohttp_server: Any) -> None:
    """Finding 5 of docs/security.md: a deeply nested message escaped into aiortc's DTLS loop and closed that
    viewer's connection; on /ws a 500 was written into the upgraded socket."""
    app, _, _ = make_app(fps=10, quantize_mm=5)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    async with PointReceiver(base) as rx:
        await rx.wait_frames(1, timeout=30)
        (peer,) = app[PEERS]
        for bad in (DEEP, json.dumps({"type": "ping", "id": "z" * 65}), json.dumps({"type": "ping", "t0": "x"})):
            rx.control.send(bad)  # type: ignore[union-attr]
        assert peer.session is not None
        await until(lambda: peer.session.control_errors == 3, 15)  # type: ignore[union-attr]
        assert peer.session.control_errors == 3
        before = len(rx.state.records)
        await rx.wait_frames(before + 3, timeout=30)  # and the stream goes on
        assert peer.pc.connectionState == "connected"
    async with WebSocketReceiver(base) as ws:
        await ws.wait_frames(1, timeout=30)
        ws._send_text(DEEP)
        (viewer,) = app[WS_VIEWERS]
        await until(lambda: viewer.session.control_errors == 1, 15)
        assert viewer.session.control_errors == 1
        before = len(ws.state.records)
        await ws.wait_frames(before + 3, timeout=30)
