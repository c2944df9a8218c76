"""The HTTP layer under both servers (signaling/http_server.py), driven over raw sockets: requests aiohttp
cannot parse get JSON, connections that never finish their headers are closed, one address cannot hold
more than its share of connections, and no bytes in a token's places give anything but 401."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling.http_server import ConnectionLimits, serve
from signaling.rendezvous import RendezvousConfig, init_rendezvous_app
from tests.helpers import MINIMAL_OFFER
from tests.test_guard import TOKEN, streamer


@asynccontextmanager
async def listening(app: web.Application, limits: ConnectionLimits = ConnectionLimits()) -> AsyncIterator[int]:
    """``app`` served as server.py serves it, on a free loopback port (yielded)."""
    ports: list[int] = []
    task = asyncio.create_task(serve(app, "127.0.0.1", 0, None, limits, ports.append))
    try:
        while not ports:
            assert not task.done(), task
            await asyncio.sleep(0.01)
        yield ports[0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes; read one response (to its Content-Length), or until the server closes or ``timeout``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        received = b""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and not complete(received):
            try:
                chunk = await asyncio.wait_for(reader.read(65536), left)
            except (asyncio.TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            received += chunk
        return received
    finally:
        writer.close()


def complete(response: bytes) -> bool:
    head, sep, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if sep and line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def parse(response: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def apps() -> dict[str, web.Application]:
    return {"streamer": streamer(token=TOKEN, offer_rate=None)[0],
            "rendezvous": init_rendezvous_app(RendezvousConfig(token=TOKEN, offer_rate=None))}


BAD_REQUESTS = [
    (b"FOO /stats HTTP/1.1\r\nHost: x\r\n\r\n", "unknown or malformed HTTP method"),
    (b"GET /st ats HTTP/1.1\r\nHost: x\r\n\r\n", "malformed request line"),
    (b"GET /st\xffats HTTP/1.1\r\nHost: x\r\n\r\n", "characters a URL cannot have"),
    (b"GET /stats?token=\xff HTTP/1.1\r\nHost: x\r\n\r\n", "characters a URL cannot have"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "too long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"b" * 9000 + b"\r\n\r\n", "too long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x00Name: 1\r\n\r\n", "malformed"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n", "malformed"),
    (b"POST /offer HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "malformed"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40), "malformed"),  # a TLS ClientHello
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", "malformed"),
]


@pytest.mark.parametrize("app_name", ["streamer", "rendezvous"])
async def test_requests_aiohttp_cannot_parse_get_json_and_no_traceback(app_name: str,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Finding 6 of docs/security.md: these came back text/plain, echoing the request line, with a traceback
    logged at ERROR. Mutation check: without GuardedRequestHandler.handle_error every case fails parse()."""
    async with listening(apps()[app_name]) as port:
        for raw, reason in BAD_REQUESTS:
            status, headers, body = parse(await exchange(port, raw))
            assert 400 <= status < 500 and reason in body["error"], (raw[:40], status, body)
            assert headers["content-type"].startswith("application/json")
            assert "stats" not in body["error"] and "aaaa" not in body["error"]  # nothing of the request echoed
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text[-2000:]


async def test_connections_that_never_finish_their_headers_are_closed() -> None:
    """Slowloris: 20 connections each sending a partial request head, byte by byte, are closed after the
    header timeout; an idle connection after a response too; a complete request is still served."""
    app, _ = streamer(offer_rate=None)
    async with listening(app, ConnectionLimits(header_timeout=1.0)) as port:
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        started = time.monotonic()
        for _, writer in conns:
            writer.write(b"GET /stats HTTP/1.1\r\nHost: x\r\n")
        closed = [False] * len(conns)
        while not all(closed) and time.monotonic() - started < 10:
            for i, (reader, writer) in enumerate(conns):
                if not closed[i]:
                    writer.write(b"X")  # keeps trickling, never finishes
                    try:
                        closed[i] = await asyncio.wait_for(reader.read(1024), 0.05) == b""
                    except asyncio.TimeoutError:
                        pass
                    except ConnectionError:
                        closed[i] = True
        elapsed = time.monotonic() - started
        assert all(closed) and elapsed < 5, (sum(closed), elapsed)
        for _, writer in conns:
            writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        while await reader.read(65536):  # the rest of the response, then the server closes the idle connection
            pass
        assert time.monotonic() - started < 5
        writer.close()


async def test_one_address_holds_at_most_its_share_of_connections() -> None:
    app, _ = streamer(offer_rate=None)
    async with listening(app, ConnectionLimits(per_address=5)) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        status, headers, body = parse(await exchange(port, b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert status == 503 and "too many connections from your address (at most 5" in body["error"]
        assert headers["retry-after"]
        held.pop()[1].close()
        await asyncio.sleep(0.2)
        response = await exchange(port, b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 200"), response[:100]
        for _, writer in held:
            writer.close()


async def test_a_body_in_pieces_is_read_whole_and_one_that_stops_gets_408(monkeypatch: pytest.MonkeyPatch) -> None:
    """An offer split over several packets was cut at the first (400 "not JSON"); a body that never
    finished held its request for ever."""
    import signaling.responses
    monkeypatch.setattr(signaling.responses, "BODY_TIMEOUT", 1.0)
    app, _ = streamer(offer_rate=None)
    body = json.dumps({"type": "offer", "sdp": MINIMAL_OFFER}).encode()
    head = (b"POST /offer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    async with listening(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for piece in (head + body[:50], body[50:300], body[300:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.2)
        status, _, answer = parse(await reader.read())
        writer.close()
        assert status == 200 and answer["type"] == "answer", answer
        status, _, refused = parse(await exchange(port, head + body[:100], timeout=10))
        assert status == 408 and "did not arrive within 1 s" in refused["error"]


token_bytes = st.binary(min_size=0, max_size=40)


@pytest.mark.parametrize("app_name", ["streamer", "rendezvous"])
async def test_any_bytes_where_a_token_goes_give_401_never_500(app_name: str) -> None:
    """Finding 3 of docs/security.md: a non-UTF-8 byte in the token was a 500 with a traceback. A request
    HTTP itself refuses (control bytes in a header, raw bytes in the target) gets a JSON 400 instead."""
    path = b"/stats" if app_name == "streamer" else b"/streams"
    loop = asyncio.get_running_loop()
    seen: dict[int, int] = {}

    async with listening(apps()[app_name]) as port:
        @settings(max_examples=300, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(place=st.sampled_from(["bearer", "cookie", "query", "query-raw"]), value=token_bytes)
        def one(place: str, value: bytes) -> None:
            target, header = path, b""
            if place == "bearer":
                header = b"Authorization: Bearer " + value + b"\r\n"
            elif place == "cookie":
                header = b"Cookie: pointstream_token=" + value + b"\r\n"
            elif place == "query":
                target = path + b"?token=" + quote_from_bytes(value).encode()
            else:
                target = path + b"?token=" + value
            raw = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n"
            response = asyncio.run_coroutine_threadsafe(exchange(port, raw), loop).result(30)
            status, _, body = parse(response)
            assert status == 401 or (status == 400 and place != "query"), (place, value, status, body)
            assert isinstance(body["error"], str)
            seen[status] = seen.get(status, 0) + 1

        await asyncio.to_thread(one)
    assert seen.get(401, 0) > 100, seen
