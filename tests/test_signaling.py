"""Signaling app: client files, /config, /offer validation and a real aiortc offer."""
from __future__ import annotations

import gzip
import re
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from signaling.app import PEERS
from signaling.ice import IceOptions
from tests.helpers import make_app


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    app, _, _ = make_app(frames_per_pass=5)
    return await aiohttp_client(app)


async def test_the_page_loads_hashed_bundles_cached_for_good_and_compressed(client: Any) -> None:
    """client/build.mjs: the page names one content-hashed entry and preloads the chunks it loads (three.js's
    and the zstd decoder's, apart: they load beside the connection); the page is revalidated every load, the
    bundles cached for a year; brotli or gzip (precompressed) to clients that accept them; 304 when unchanged."""
    resp = await client.get("/")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache"
    html = await resp.text()
    bundles = re.findall(r'<script type="module" src="(/assets/main-[A-Z0-9]{8}\.js)"></script>', html)
    assert len(bundles) == 1 and "importmap" not in html and "/src/" not in html, html
    preloads = re.findall(r'<link rel="modulepreload" href="(/assets/[a-z]+-[A-Z0-9]{8}\.js)">', html)
    assert {p.split("-")[0] for p in preloads} >= {"/assets/scene", "/assets/assembler"}, html
    for chunk in preloads:  # every chunk the entry loads is there, and is what the entry asks for
        assert (await client.get(chunk)).status == 200, chunk
    entry = await (await client.get(bundles[0], headers={"Accept-Encoding": "identity"})).text()
    assert all(chunk.rsplit("/", 1)[1] in entry for chunk in preloads), preloads
    bundle = bundles[0]
    plain = await client.get(bundle, headers={"Accept-Encoding": "identity"})
    body = await plain.read()
    assert plain.status == 200 and "Content-Encoding" not in plain.headers
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert plain.headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    for encoding, decompress in (("br", brotli_decompress), ("gzip", gzip.decompress)):
        packed = await client.get(bundle, headers={"Accept-Encoding": encoding}, auto_decompress=False)
        raw = await packed.read()
        assert packed.headers["Content-Encoding"] == encoding and len(raw) < len(body) / 2, encoding
        assert decompress(raw) == body, encoding
    again = await client.get(bundle, headers={"If-None-Match": plain.headers["ETag"], "Accept-Encoding": "identity"})
    assert again.status == 304
    assert (await client.get(bundle + ".map")).status == 200  # source maps for debugging
    assert (await client.get("/assets/main-NOPE.js")).status == 404
    for path in ("/src/main.js", "/src/protocol.js", "/vendor/three/build/three.module.js"):  # the sources too
        assert (await client.get(path)).status == 200, path


def brotli_decompress(data: bytes) -> bytes:
    """Decoded by Node, which compressed it: no brotli package in the venv for one test."""
    import subprocess
    script = "process.stdout.write(require('zlib').brotliDecompressSync(require('fs').readFileSync(0)))"
    return subprocess.run(["node", "-e", script], input=data, capture_output=True, check=True).stdout


async def test_config_returns_an_explicit_empty_ice_list_by_default(client: Any) -> None:
    resp = await client.get("/config")
    assert resp.status == 200 and await resp.json() == {"iceServers": [], "iceTransportPolicy": "all"}


async def test_config_lists_configured_servers(aiohttp_client: Any) -> None:
    app, _, _ = make_app(frames_per_pass=5, ice=IceOptions(stun=["stun:127.0.0.1:3478"]))
    c = await aiohttp_client(app)
    assert await (await c.get("/config")).json() == {"iceServers": [{"urls": "stun:127.0.0.1:3478"}],
                                                     "iceTransportPolicy": "all"}


@pytest.mark.parametrize("kwargs, status, message", [
    ({"data": "v=0", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
    ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400, "body is not"),
    ({"json": [1, 2]}, 400, "JSON object"),
    ({"json": {"type": "offer"}}, 400, "'sdp' must be"),
    ({"json": {"sdp": "v=0\r\n", "type": "answer"}}, 400, "'type' must be"),
    ({"json": {"sdp": "hello", "type": "offer"}}, 400, "'sdp' must be"),
    ({"json": {"sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "type": "offer"}}, 400, "no data channel"),
    ({"json": {"sdp": "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "type": "offer"}}, 400,
     "no ICE credentials"),
    ({"json": {"sdp": "v=0" + "x" * 70000, "type": "offer"}}, 413, "larger than"),
])
async def test_bad_offers_get_a_4xx_with_a_json_error(client: Any, kwargs: dict[str, Any], status: int,
                                                      message: str) -> None:
    resp = await client.post("/offer", **kwargs)
    assert resp.status == status
    body = await resp.json()
    assert message in body["error"]
    assert not client.app[PEERS]  # nothing left behind


async def test_a_real_offer_gets_an_answer(client: Any) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.createDataChannel("control")
        pc.createDataChannel("points", ordered=False, maxRetransmits=0)
        await pc.setLocalDescription(await pc.createOffer())
        resp = await client.post("/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"})
        assert resp.status == 200
        answer = await resp.json()
        assert answer["type"] == "answer" and "m=application" in answer["sdp"]
        assert len(client.app[PEERS]) == 1
    finally:
        await pc.close()


async def test_stats_endpoint(client: Any) -> None:
    body = await (await client.get("/stats")).json()
    assert set(body) >= {"broadcast", "viewers", "finished", "memory"} and body["viewers"] == []
    memory = body["memory"]  # glibc (Debian): the C heap is reported; tracemalloc is off in tests
    assert memory["resident"] > memory["heapInUse"] > 1_000_000 and memory["heapFree"] >= 0
    assert memory["traced"] is None


OFFER_WITH_MDNS = (
    "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n"
    "a=candidate:1 1 udp 2113937151 0a1b2c3d-dead-beef-0000-000000000001.local 5000 typ host\r\n"
    "a=candidate:2 1 udp 2113937151 127.0.0.1 5001 typ host\r\n"
    "a=candidate:3 1 udp 2113937151 0a1b2c3d-dead-beef-0000-000000000002.local 5002 typ host\r\n"
    "a=end-of-candidates\r\n")


def test_mdns_candidates_are_taken_out_of_the_offer_for_later() -> None:
    from rtc.mdns_candidates import defer_mdns_candidates
    deferral = defer_mdns_candidates(OFFER_WITH_MDNS)
    assert ".local" not in deferral.sdp and "127.0.0.1 5001" in deferral.sdp and deferral.sdp.startswith("v=0\r\n")
    # aiortc must not hear end-of-candidates before the deferred ones are added
    assert "end-of-candidates" not in deferral.sdp and deferral.ended
    assert [(c.mid, c.line_index, c.name) for c in deferral.candidates] == [
        ("0", 0, "0a1b2c3d-dead-beef-0000-000000000001.local"), ("0", 0, "0a1b2c3d-dead-beef-0000-000000000002.local")]
    plain = "v=0\r\na=candidate:2 1 udp 2113937151 127.0.0.1 5001 typ host\r\n"
    assert defer_mdns_candidates(plain).sdp == plain and not defer_mdns_candidates(plain).candidates


async def test_deferred_mdns_candidates_resolve_to_addresses_or_are_left_out() -> None:
    from aioice import mdns

    from rtc.mdns_candidates import defer_mdns_candidates, resolve_deferred
    deferral = defer_mdns_candidates(OFFER_WITH_MDNS)
    responder = await mdns.create_mdns_protocol()
    try:
        await responder.publish("0a1b2c3d-dead-beef-0000-000000000001.local", "127.0.0.1")
        resolved = await resolve_deferred(deferral.candidates, timeout=0.5)
    finally:
        await responder.close()
    # the published name resolves; the other one times out and is left to peer-reflexive discovery
    assert [(c.ip, c.port, c.sdpMid, c.sdpMLineIndex) for c in resolved] == [("127.0.0.1", 5000, "0", 0)]
