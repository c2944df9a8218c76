"""Bad requests, tokens and limits, on both servers: clear 4xx JSON errors, never a 500, and a good
viewer still streams afterwards."""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.synthetic import SyntheticOptions, SyntheticSource
from headless.receiver import PointReceiver, WebSocketReceiver
from signaling.app import PEERS, init_app
from signaling.cli import check_stream_name
from signaling.guard import TOKEN_COOKIE, RateLimit
from signaling.ice import IceOptions
from signaling.publisher import Publisher, RegistrationRefused
from signaling.rendezvous import RendezvousConfig, init_rendezvous_app
from stream.broadcaster import FrameBroadcaster
from stream.encoder import EncoderOptions
from tests.helpers import MINIMAL_OFFER, register, server_config

TOKEN = "correct-horse-battery"
SDP = MINIMAL_OFFER


def streamer(**cfg: Any) -> tuple[aiohttp.web.Application, FrameBroadcaster]:
    source = SyntheticSource(SyntheticOptions(fps=5, frames_per_pass=20))
    b = FrameBroadcaster(source, EncoderOptions(quantize_mm=5), 5.0)
    return init_app(server_config(b, **cfg)), b


@pytest.fixture
async def open_server(aiohttp_server: Any) -> Any:
    app, _ = streamer(offer_rate=None)
    return await aiohttp_server(app)


@pytest.fixture
async def rendezvous(aiohttp_server: Any) -> Any:
    return await aiohttp_server(init_rendezvous_app(RendezvousConfig(offer_rate=None)))


async def request(server: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, str(server.make_url(path)), **kwargs) as resp:
            text = await resp.text()
            try:
                body = json.loads(text)
            except json.JSONDecodeError:
                body = text
            return resp.status, body, resp


BAD_REQUESTS = [
    ("GET", "/offer", {}, 405, "GET is not allowed"),
    ("PUT", "/offer", {"json": {}}, 405, "PUT is not allowed"),
    ("POST", "/config", {}, 405, "POST is not allowed"),
    ("DELETE", "/", {}, 405, "DELETE is not allowed"),
    ("GET", "/nope", {}, 404, "no such path: /nope"),
    ("GET", "/src/nope.js", {}, 404, "no such path"),
    ("GET", "/ws", {}, 400, ""),  # not a WebSocket upgrade
    ("POST", "/offer", {"data": b"x" * 70_000, "headers": {"Content-Type": "application/json"}}, 413, "larger than"),
    ("POST", "/offer", {"data": "{}", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
    ("POST", "/offer", {"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, 400, "body is not"),
    ("POST", "/offer", {"data": "null", "headers": {"Content-Type": "application/json"}}, 400, "JSON object"),
    ("POST", "/offer", {"json": {"type": "offer", "sdp": 5}}, 400, "'sdp' must be"),
    ("POST", "/offer", {"json": {"type": "offer", "sdp": SDP + "a=x\x00\r\n"}}, 400, "control characters"),
    ("POST", "/offer", {"json": {"type": "offer", "sdp": "v=0\r\nm=application\r\n"}}, 400, "aiortc can read"),
]


@pytest.mark.parametrize("method, path, kwargs, status, message", BAD_REQUESTS)
async def test_bad_requests_get_a_clear_json_4xx(open_server: Any, method: str, path: str, kwargs: dict[str, Any],
                                                 status: int, message: str) -> None:
    got, body, resp = await request(open_server, method, path, **kwargs)
    assert got == status, body
    assert isinstance(body, dict) and message in body["error"], body
    assert "Traceback" not in json.dumps(body)
    if status == 405:
        assert resp.headers.get("Allow")
    assert not open_server.app[PEERS]


@pytest.mark.parametrize("method, path, kwargs, status, message", [
    ("GET", "/publish", {}, 400, ""),
    ("POST", "/view/car1", {}, 405, "POST is not allowed"),
    ("GET", "/view/car1/offer", {}, 405, "GET is not allowed"),
    ("POST", "/view/car1/offer", {"json": {"type": "offer", "sdp": SDP}}, 404, "no live stream"),
    ("POST", "/view/-x/offer", {"json": {"type": "offer", "sdp": SDP}}, 400, "not a valid stream name"),
    ("POST", "/view/car1/offer", {"json": {"type": "offer", "sdp": "v=0\r\nm=application\r\n"}}, 400, "aiortc can read"),
    ("GET", "/view/a/b/c", {}, 404, "no such path"),
])
async def test_bad_requests_to_the_rendezvous_server(rendezvous: Any, method: str, path: str,
                                                     kwargs: dict[str, Any], status: int, message: str) -> None:
    got, body, _ = await request(rendezvous, method, path, **kwargs)
    assert got == status and message in body["error"], body


PATHS = ["/", "/offer", "/config", "/stats", "/ws", "/src/main.js", "/nope", "/offer/x", "/%00", "/view/x/offer"]
bodies = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=50),
        lambda c: st.lists(c, max_size=5) | st.dictionaries(st.sampled_from(["type", "sdp", "x"]), c, max_size=3),
        max_leaves=10)),
    st.builds(lambda t, s: json.dumps({"type": t, "sdp": s}).encode(), st.sampled_from(["offer", "answer", ""]),
              st.text(max_size=300).map(lambda x: "v=0\r\n" + x) | st.just(SDP) | st.text(max_size=200)),
)


async def fuzz(server: Any, paths: list[str], count: int) -> dict[int, int]:
    """``count`` generated requests; every answer must be below 500 and every error JSON."""
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        @settings(max_examples=count, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
               path=st.sampled_from(paths) | st.text(st.characters(codec="ascii", exclude_characters="?#"),
                                                     max_size=30).map(lambda p: "/" + p),
               content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=x"]),
               body=bodies)
        def one(method: str, path: str, content_type: str, body: bytes) -> None:
            future = asyncio.run_coroutine_threadsafe(send(method, path, content_type, body), loop)
            status = future.result(30)
            statuses[status] = statuses.get(status, 0) + 1

        async def send(method: str, path: str, content_type: str, body: bytes) -> int:
            url = str(server.make_url("/")).rstrip("/") + path
            headers = {"Content-Type": content_type} if content_type else {}
            try:
                async with http.request(method, url, data=body, headers=headers) as resp:
                    text = await resp.text(errors="replace")
            except aiohttp.InvalidURL:
                return 0
            assert resp.status < 500, (method, path, resp.status, text[:200])
            if resp.status >= 400:
                assert "error" in json.loads(text), text[:200]
            return resp.status

        loop = asyncio.get_running_loop()
        await asyncio.to_thread(one)
    return statuses


async def test_thousands_of_generated_requests_never_break_the_streamer(open_server: Any) -> None:
    statuses = await fuzz(open_server, PATHS, 2500)
    assert sum(statuses.values()) >= 2500 and any(400 <= s < 500 for s in statuses)
    async with PointReceiver(str(open_server.make_url("")).rstrip("/")) as rx:  # and everyone else is served
        assert len(await rx.wait_frames(3, timeout=30)) >= 3


async def test_thousands_of_generated_requests_never_break_the_rendezvous_server(rendezvous: Any) -> None:
    statuses = await fuzz(rendezvous, ["/", "/streams", "/publish", "/view/car1", "/view/car1/offer",
                                       "/view/car1/config", "/view/%2e%2e/offer", "/src/streams.js"], 2000)
    assert any(400 <= s < 500 for s in statuses)
    got, body, _ = await request(rendezvous, "GET", "/streams")
    assert got == 200 and body == {"streams": []}


# ---------------------------------------------------------------- tokens
@pytest.fixture
async def guarded(aiohttp_server: Any) -> Any:
    app, _ = streamer(token=TOKEN, offer_rate=None)
    return await aiohttp_server(app)


@pytest.mark.parametrize("path", ["/", "/config", "/stats", "/ws"])
@pytest.mark.parametrize("presented", ["none", "wrong", "empty"])
async def test_protected_paths_need_the_token(guarded: Any, path: str, presented: str) -> None:
    headers = {"wrong": {"Authorization": "Bearer nope"}, "empty": {"Authorization": "Bearer "}}.get(presented, {})
    got, body, resp = await request(guarded, "GET", path, headers=headers)
    assert got == 401 and "needs a token" in body["error"]
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    got, body, _ = await request(guarded, "POST", "/offer", json={"type": "offer", "sdp": SDP}, headers=headers)
    assert got == 401


async def test_the_token_opens_the_page_and_a_link_with_it_leaves_a_cookie(guarded: Any) -> None:
    got, _, _ = await request(guarded, "GET", "/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert got == 200
    got, page, resp = await request(guarded, "GET", f"/?token={TOKEN}")
    assert got == 200
    bundle = re.search(r'src="(/assets/main-[A-Z0-9]+\.js)"', page)
    assert bundle is not None, page
    got, _, _ = await request(guarded, "GET", bundle.group(1))  # the page's bundle is public, like all code
    assert got == 200
    cookie = resp.cookies[TOKEN_COOKIE]
    assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
    got, _, _ = await request(guarded, "GET", "/config", cookies={TOKEN_COOKIE: TOKEN})
    assert got == 200
    got, _, _ = await request(guarded, "GET", "/src/main.js")  # the client's code is public
    assert got == 200


async def test_viewers_with_the_token_stream_on_both_transports(guarded: Any) -> None:
    base = str(guarded.make_url("")).rstrip("/")
    async with PointReceiver(base, token=TOKEN) as rx:
        assert len(await rx.wait_frames(2, timeout=30)) >= 2
    async with WebSocketReceiver(base, token=TOKEN) as rx:
        assert len(await rx.wait_frames(2, timeout=30)) >= 2
    with pytest.raises(ConnectionError, match="401"):
        await PointReceiver(base, token="not-the-token").connect()


async def test_the_token_is_never_logged(guarded: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await request(guarded, "GET", "/config", headers={"Authorization": f"Bearer {TOKEN}x"})
    await request(guarded, "GET", f"/?token={TOKEN}")
    # the test server keeps aiohttp's access log, which server.py turns off (access_log=None)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "401" in ours and "wrong token" in ours
    assert TOKEN not in ours


async def test_publishers_need_the_publish_token(aiohttp_server: Any) -> None:
    server = await aiohttp_server(init_rendezvous_app(RendezvousConfig(token=TOKEN, publish_token="publisher-only")))
    base = str(server.make_url("")).rstrip("/")
    source = SyntheticSource(SyntheticOptions(fps=2, frames_per_pass=5))
    from stream.sender import PacingOptions
    from viewers.settings import ViewerSettings
    settings_ = ViewerSettings(FrameBroadcaster(source, EncoderOptions(), 2.0), PacingOptions(), None)
    for token in (None, TOKEN):  # a viewer's token is not a publisher's
        with pytest.raises(RegistrationRefused, match="refused the token"):
            await asyncio.wait_for(Publisher(base, "car1", settings_, token=token).run(), 10)
    publisher = Publisher(base, "car1", settings_, token="publisher-only")
    task = asyncio.create_task(publisher.run())
    try:
        for _ in range(100):
            if publisher.registrations:
                break
            await asyncio.sleep(0.05)
        assert publisher.registrations == 1
        got, body, _ = await request(server, "GET", "/streams")
        assert got == 401
        got, body, _ = await request(server, "GET", "/streams", headers={"Authorization": f"Bearer {TOKEN}"})
        assert got == 200 and [s["name"] for s in body["streams"]] == ["car1"]
        # every viewer path of a live stream needs the viewers' token (mutation: drop "/view/" from the rules)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for method, path, kwargs, status in [("GET", "/", {}, 200), ("GET", "/view/car1", {}, 200),
                                             ("GET", "/view/car1/", {}, 200), ("GET", "/view/car1/config", {}, 200),
                                             ("POST", "/view/car1/offer", {"json": {"type": "offer",
                                                                                    "sdp": MINIMAL_OFFER}}, 200)]:
            got, body, _ = await request(server, method, path, **kwargs)
            assert got == 401, (method, path, body)
            got, body, _ = await request(server, method, path, headers=auth, **kwargs)
            assert got == status, (method, path, body)
        got, _, _ = await request(server, "GET", "/src/main.js")  # the client's code is public
        assert got == 200
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await publisher.close()


# ---------------------------------------------------------------- limits
def test_the_rate_limit_allows_a_burst_then_refills_per_address() -> None:
    limit = RateLimit(per_minute=60, burst=3)
    assert [limit.retry_after("a", now=0.0) for _ in range(3)] == [0, 0, 0]
    assert limit.retry_after("a", now=0.0) == pytest.approx(1.0)
    assert limit.retry_after("b", now=0.0) == 0  # another address has its own bucket
    assert limit.retry_after("a", now=1.0) == 0  # one more after a second at 60 per minute
    small = RateLimit(max_clients=2)
    for client in "xyz":
        small.retry_after(client, now=0.0)
    assert len(small._buckets) == 2  # the table is bounded


async def test_offers_past_the_rate_get_429_with_retry_after(aiohttp_server: Any) -> None:
    app, _ = streamer(offer_rate=RateLimit(per_minute=6, burst=2))
    server = await aiohttp_server(app)
    answers = [await request(server, "POST", "/offer", json={"type": "offer", "sdp": "hello"}) for _ in range(3)]
    assert [a[0] for a in answers] == [400, 400, 429]
    assert "too many offers" in answers[2][1]["error"] and int(answers[2][2].headers["Retry-After"]) >= 1


async def test_viewers_past_max_viewers_get_503(aiohttp_server: Any) -> None:
    app, _ = streamer(max_viewers=1, offer_rate=None)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    async with PointReceiver(base) as rx:
        await rx.wait_frames(1, timeout=30)
        with pytest.raises(ConnectionError, match="503.*full"):
            await PointReceiver(base).connect()
        got, body, _ = await request(server, "GET", "/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                                    "Sec-WebSocket-Version": "13",
                                                                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert got == 503 and "full" in body["error"]


async def test_the_rendezvous_server_refuses_streams_past_max_streams(aiohttp_server: Any) -> None:
    server = await aiohttp_server(init_rendezvous_app(RendezvousConfig(max_streams=1, offer_rate=None)))
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(server.make_url("/publish")) as first:
            assert (await register(first, "one"))["type"] == "registered"
            async with http.ws_connect(server.make_url("/publish")) as second:
                reply = await register(second, "two", session="ijklmnop")
                assert reply["type"] == "error" and "full" in reply["error"]


@pytest.mark.parametrize("check", [
    lambda: check_stream_name("car1\n"),
    lambda: IceOptions(stun=["stun:stun.example.org\n"]),
    lambda: IceOptions(turn=["turn:turn.example.org:3478\n"]),
    lambda: IceOptions(turn=["turn:turn.example.org?transport=udp\n"]),
])
def test_names_and_urls_are_matched_whole(check: Any) -> None:
    """Finding 4 of docs/security.md: a pattern ending in "$" let a trailing newline through."""
    with pytest.raises(ValueError):
        check()
