"""Rendezvous signaling on loopback: publishers connect out, viewers open /view/NAME, offers are relayed."""
from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from data.synthetic import SyntheticOptions, SyntheticSource
from headless.receiver import PointReceiver
from rtc.sctp_congestion import LossToleranceOptions
from signaling.ice import IceOptions
from signaling.publisher import Publisher, RegistrationRefused, publish_url
from signaling.rendezvous import STREAMS, RendezvousConfig, init_rendezvous_app
from stream.broadcaster import FrameBroadcaster
from stream.encoder import EncoderOptions
from stream.sender import PacingOptions
from tests.conftest import ServerProcess, self_signed
from tests.helpers import MINIMAL_OFFER, register
from viewers.settings import ViewerSettings


@pytest.fixture
async def broadcaster() -> AsyncIterator[FrameBroadcaster]:
    source = SyntheticSource(SyntheticOptions(fps=5))
    b = FrameBroadcaster(source, EncoderOptions(quantize_mm=5), 5.0)
    task = asyncio.create_task(b.run())
    yield b
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def signaling(aiohttp_server: Any) -> Any:
    ice = IceOptions(turn=["turn:127.0.0.1:3478"], turn_secret="s3cret", turn_ttl=600)
    return await aiohttp_server(init_rendezvous_app(RendezvousConfig(ice, answer_timeout=5.0)))


def settings(b: FrameBroadcaster) -> ViewerSettings:
    return ViewerSettings(b, PacingOptions(), LossToleranceOptions())


async def started(publisher: Publisher, timeout: float = 10.0) -> asyncio.Task[None]:
    task = asyncio.create_task(publisher.run())
    await registered(publisher, task, timeout)
    return task


async def registered(publisher: Publisher, task: asyncio.Task[None], timeout: float = 15.0) -> None:
    """Wait until ``publisher`` (running as ``task``) has registered; its error if it gave up."""
    for _ in range(int(timeout * 20)):
        if publisher.registrations or task.done():
            break
        await asyncio.sleep(0.05)
    if task.done():
        task.result()
    assert publisher.registrations, "publisher did not register"


async def stop(publisher: Publisher, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await publisher.close()


def test_publish_url_is_the_websocket_endpoint() -> None:
    assert publish_url("https://host:8443") == "wss://host:8443/publish"
    assert publish_url("http://10.0.0.1:8443/") == "ws://10.0.0.1:8443/publish"
    with pytest.raises(ValueError, match="http"):
        publish_url("host:8443")


async def test_a_viewer_watches_a_published_stream_through_the_signaling_server(
        signaling: Any, broadcaster: FrameBroadcaster) -> None:
    base = str(signaling.make_url("")).rstrip("/")
    # its own (empty) ICE flags instead of the server's TURN server, which does not exist here
    publisher = Publisher(base, "car1", settings(broadcaster), ice=IceOptions())
    task = await started(publisher)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/streams") as resp:
                assert [s["name"] for s in (await resp.json())["streams"]] == ["car1"]
            async with http.get(f"{base}/view/car1") as resp:
                assert resp.status == 200 and 'id="view"' in await resp.text()
        async with PointReceiver(f"{base}/view/car1") as rx:
            records = await rx.wait_frames(3, timeout=30)
            assert len(records) >= 3 and records[-1].points_received > 0
            path = rx.path()
            assert path is not None and path["local"] == "host" and path["remote"] == "host"
            # the streamer sees the same pair from its side, and reports it in /stats
            (peer,) = publisher.peers
            assert peer.describe()["path"]["remoteAddress"] == path["localAddress"]
        assert len(publisher.peers) <= 1
        # the offer went through the signaling server, which counted it
        assert signaling.app[STREAMS]["car1"].offers_forwarded == 1
    finally:
        await stop(publisher, task)


async def test_viewers_get_their_own_minted_turn_credentials(signaling: Any) -> None:
    base = str(signaling.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/view/any/config") as resp:
            cfg = await resp.json()
    turn = cfg["iceServers"][0]
    assert turn["urls"] == ["turn:127.0.0.1:3478"]
    expiry, name = turn["username"].split(":", 1)
    assert name.startswith("viewer@") and int(expiry) > 0
    assert cfg["iceTransportPolicy"] == "all"


async def test_offers_for_streams_that_are_not_live_or_badly_named_are_refused(signaling: Any) -> None:
    base = str(signaling.make_url("")).rstrip("/")
    offer = {"type": "offer", "sdp": MINIMAL_OFFER}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/view/nobody/offer", json=offer) as resp:
            assert resp.status == 404 and "no live stream named 'nobody'" in (await resp.json())["error"]
        async with http.post(f"{base}/view/bad%20name/offer", json=offer) as resp:
            assert resp.status == 400 and "not a valid stream name" in (await resp.json())["error"]
        async with http.post(f"{base}/view/nobody/offer", json={"type": "offer", "sdp": "hi"}) as resp:
            assert resp.status == 400 and "'sdp' must be" in (await resp.json())["error"]
        for name in ("car1%0A", "car1%0D", "car1%00", "car1%20"):  # a look-alike of car1: matched whole
            async with http.post(f"{base}/view/{name}/offer", json=offer) as resp:
                assert resp.status == 400 and "not a valid stream name" in (await resp.json())["error"], name
            async with http.get(f"{base}/view/{name}") as resp:
                assert resp.status == 400, name


async def test_a_name_is_held_by_its_publisher_and_taken_back_by_the_same_session(
        signaling: Any, broadcaster: FrameBroadcaster) -> None:
    base = str(signaling.make_url("")).rstrip("/")
    first = Publisher(base, "car1", settings(broadcaster))
    task = await started(first)
    try:
        intruder = Publisher(base, "car1", settings(broadcaster))
        with pytest.raises(RegistrationRefused, match="already published"):
            await asyncio.wait_for(intruder.run(), 10)
        # the same publisher reconnecting (its old socket not yet timed out) replaces its old registration
        again = Publisher(base, "car1", settings(broadcaster))
        again.session = first.session
        task2 = await started(again)
        assert signaling.app[STREAMS]["car1"].session == first.session
        await stop(again, task2)
    finally:
        await stop(first, task)


async def test_registration_messages_are_checked(signaling: Any) -> None:
    url = str(signaling.make_url("/publish"))
    cases = [("not json", "first message must be"),
             (json.dumps({"type": "register", "stream": "../etc", "session": "abcdefgh"}), "stream name"),
             # finding 4 of docs/security.md: "$" let "car1\n" register beside "car1" (mutation: .match again)
             (json.dumps({"type": "register", "stream": "car1\n", "session": "abcdefgh"}), "stream name"),
             ("[" * 5000 + "]" * 5000, "first message must be"),
             (json.dumps({"type": "register", "stream": "car1", "session": "x"}), "session must be")]
    async with aiohttp.ClientSession() as http:
        for text, error in cases:
            async with http.ws_connect(url) as ws:
                await ws.send_str(text)
                reply = await ws.receive_json(timeout=5)
                assert reply["type"] == "error" and error in reply["error"]
                await ws.receive(timeout=5)
                assert ws.close_code == 4400
    assert not signaling.app[STREAMS]


async def test_a_publisher_that_goes_away_fails_pending_offers_with_502(signaling: Any) -> None:
    """A fake publisher that registers and never answers, then disconnects while an offer waits."""
    base = str(signaling.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{base}/publish")
        assert (await register(ws, "mute"))["type"] == "registered"
        post = asyncio.create_task(http.post(f"{base}/view/mute/offer", json={"type": "offer", "sdp": MINIMAL_OFFER}))
        forwarded = await ws.receive_json(timeout=5)
        assert forwarded["type"] == "offer" and forwarded["sdp"] == MINIMAL_OFFER
        assert forwarded["ice"]["iceServers"][0]["username"].endswith(":mute@127.0.0.1")
        await ws.close()
        resp = await post
        assert resp.status == 502 and "publisher" in (await resp.json())["error"]
    assert "mute" not in signaling.app[STREAMS]


async def test_a_publisher_that_does_not_answer_in_time_gives_504(signaling: Any) -> None:
    base = str(signaling.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{base}/publish") as ws:
            await register(ws, "slow")
            async with http.post(f"{base}/view/slow/offer", json={"type": "offer", "sdp": MINIMAL_OFFER}) as resp:
                assert resp.status == 504 and "did not answer" in (await resp.json())["error"]


# ---------------------------------------------------------------- as a user runs it: separate processes
async def watch(url: str, frames: int = 3, ssl_context: Any = True) -> dict[str, Any] | None:
    async with PointReceiver(url, ssl=ssl_context) as rx:
        await rx.wait_frames(frames, timeout=30)
        return rx.path()


def signal_server(start: Callable[..., ServerProcess], *args: str, port: int | None = None,
                  scheme: str = "http") -> ServerProcess:
    return start(*args, port=port, command="signal", ready="Signaling.", scheme=scheme)


async def test_the_publisher_reconnects_after_the_signaling_server_restarts(server_process: Any) -> None:
    sig = signal_server(server_process)
    base = sig.url.rstrip("/")
    pub = server_process("--signaling", base, "--stream", "car1", "--quantize", "5", "--fps", "5", listen=False)
    assert await watch(f"{base}/view/car1") is not None
    sig.stop()
    sig = signal_server(server_process, port=sig.port)
    for _ in range(100):  # the publisher's backoff is at most a few seconds here
        if sum("published 'car1'" in line for line in pub.output) >= 2:
            break
        await asyncio.sleep(0.1)
    assert sum("published 'car1'" in line for line in pub.output) >= 2, list(pub.output)
    assert await watch(f"{base}/view/car1") is not None


async def test_signaling_over_https_with_a_self_signed_certificate(server_process: Any, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    sig = signal_server(server_process, "--cert", str(cert), "--key", str(key), scheme="https")
    base = sig.url.rstrip("/")
    assert base.startswith("https://")
    server_process("--signaling", base, "--stream", "secure", "--signaling-ca", str(cert), "--quantize", "5",
                   "--fps", "5", listen=False)
    trust = ssl.create_default_context(cafile=str(cert))
    assert await watch(f"{base}/view/secure", ssl_context=trust) is not None
    # without trusting the certificate, the client refuses the server
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await watch(f"{base}/view/secure")


def test_a_publisher_whose_name_is_taken_exits_with_a_clear_error(server_process: Any) -> None:
    sig = signal_server(server_process)
    base = sig.url.rstrip("/")
    server_process("--signaling", base, "--stream", "dup", "--fps", "2", listen=False)
    with pytest.raises(RuntimeError, match="already published"):
        server_process("--signaling", base, "--stream", "dup", "--fps", "2", listen=False, startup_timeout=20)


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", ["terminate", "kill"])
async def test_a_stopped_or_killed_publisher_leaves_no_producer_process(server_process: Any, how: str) -> None:
    """SIGTERM stops it cleanly; after SIGKILL its producer process notices and exits by itself."""
    sig = signal_server(server_process)
    pub = server_process("--signaling", sig.url.rstrip("/"), "--stream", "gone", "--fps", "2", listen=False)
    producers = children(pub.proc.pid)
    assert producers, "the streamer runs its producer in a child process"
    getattr(pub.proc, how)()
    pub.proc.wait(10)
    for _ in range(150):  # the producer checks on its parent every second
        if not any(alive(p) for p in producers):
            break
        await asyncio.sleep(0.1)
    assert not any(alive(p) for p in producers), producers
    if how == "terminate":
        assert pub.proc.returncode == 0 and any("stopping" in line for line in pub.output), list(pub.output)


async def test_relay_only_reaches_the_publisher_and_hides_the_viewers_address(aiohttp_server: Any) -> None:
    ice = IceOptions(turn=["turn:127.0.0.1:3478"], turn_secret="s", relay_only=True)
    server = await aiohttp_server(init_rendezvous_app(RendezvousConfig(ice, answer_timeout=2.0)))
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/view/hidden/config") as resp:
            assert (await resp.json())["iceTransportPolicy"] == "relay"
        async with http.ws_connect(f"{base}/publish") as ws:
            await register(ws, "hidden")
            post = asyncio.create_task(http.post(f"{base}/view/hidden/offer",
                                                 json={"type": "offer", "sdp": MINIMAL_OFFER}))
            forwarded = await ws.receive_json(timeout=5)
            assert forwarded["remote"] is None and forwarded["ice"]["iceTransportPolicy"] == "relay"
            await ws.send_json({"type": "refused", "id": forwarded["id"], "status": 400, "error": "test"})
            resp = await post
            assert resp.status == 400 and "refused the offer: test" in (await resp.json())["error"]


async def test_what_a_publisher_says_cannot_become_a_5xx_or_break_the_server(signaling: Any) -> None:
    base = str(signaling.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{base}/publish") as ws:
            await register(ws, "odd")
            for reply in ({"type": "refused", "status": 500, "error": "boom"},
                          {"type": "refused", "status": 503, "error": "full"},
                          {"type": "answer", "sdp": "not sdp"}):
                post = asyncio.create_task(http.post(f"{base}/view/odd/offer", json={"type": "offer", "sdp": MINIMAL_OFFER}))
                forwarded = await ws.receive_json(timeout=5)
                await ws.send_json({"type": "answer", "id": [forwarded["id"]], "sdp": "v=0"})  # unhashable id: ignored
                await ws.send_str("not json")
                await ws.send_json({**reply, "id": forwarded["id"]})
                resp = await post
                assert resp.status == {500: 502, 503: 503}.get(reply.get("status"), 502), await resp.text()
            assert "odd" in signaling.app[STREAMS]  # and the publisher is still registered


async def test_a_publisher_turned_away_by_a_full_server_keeps_trying(aiohttp_server: Any,
                                                                     broadcaster: FrameBroadcaster) -> None:
    server = await aiohttp_server(init_rendezvous_app(RendezvousConfig(max_streams=1, offer_rate=None)))
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        squatter = await http.ws_connect(f"{base}/publish")
        assert (await register(squatter, "first"))["type"] == "registered"
        publisher = Publisher(base, "second", settings(broadcaster), ice=IceOptions())
        task = asyncio.create_task(publisher.run())
        try:
            await asyncio.sleep(1.5)
            assert not task.done() and publisher.registrations == 0  # turned away, still trying
            await squatter.close()
            await registered(publisher, task)
            assert "second" in server.app[STREAMS]
        finally:
            await stop(publisher, task)

