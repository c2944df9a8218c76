"""Fan-out through Janus (issue 14): the pieces on their own, then a real Janus started by the streamer in
a sealed network namespace, watched by real Chromium and headless viewers."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lab.process import descendant_named
from lab.sealed_host import ADDRESS, INTERFACE, SealedHost
from sfu.feed import JanusFeed, tier_messages
from sfu.janus import MAX_DATAGRAM, JanusOptions, Tier, janus_config
from sfu.tiers import TierChoice, TierPolicy
from stream.encoder import EncoderOptions, FrameEncoder
from stream.messages import SfuAnswer, parse_viewer_message
from stream.protocol import decode_header
from tests.conftest import CHROMIUM, ROOT, ServerProcess, require, which

TIERS = (Tier(1, 1.0, 5101), Tier(2, 0.5, 5102), Tier(3, 0.25, 5103))


def frame(points: int = 30_000, packets: int = 1) -> Any:
    pts = np.random.default_rng(1).uniform(-40, 40, (points, 4)).astype(np.float32)
    pts[:, 3] = 0.5
    return FrameEncoder(EncoderOptions(quantize_mm=5, chunk_packets=packets)).encode(7, 1.0, pts)


# ----------------------------------------------------------------------------- the pieces
def test_janus_config_listens_on_loopback_only_with_tokens_and_no_stun(tmp_path: Path) -> None:
    options = JanusOptions(tiers=TIERS, admin_secret="s3cret")
    files = janus_config(options, tmp_path)
    general, http = files["janus.jcfg"], files["janus.transport.http.jcfg"]
    streaming = files["janus.plugin.streaming.jcfg"]
    assert "token_auth = true" in general and 'admin_secret = "s3cret"' in general
    assert "stun_server" not in general and "turn_server" not in general  # nothing outside unless configured
    assert f'plugins_folder = "{tmp_path / "plugins"}"' in general  # its own folder: only what we link there
    assert f"event_loops = {os.cpu_count() or 2}" in general  # handles share a loop per core, not a thread each
    assert http.count('ip = "127.0.0.1"') == 2  # the API and the admin API
    for tier in TIERS:
        assert f"dataport = {tier.data_port}" in streaming
    assert streaming.count('datatype = "binary"') == 3 and 'dataiface = "127.0.0.1"' in streaming
    with_stun = janus_config(JanusOptions(stun="10.0.0.1:3478", turn=("10.0.0.1", 3478, "u", "p")), tmp_path)
    assert 'stun_server = "10.0.0.1"' in with_stun["janus.jcfg"] and 'turn_user = "u"' in with_stun["janus.jcfg"]


def test_a_tier_is_a_prefix_of_the_send_order_that_says_how_many_were_sent() -> None:
    encoded = frame()
    total = len(encoded.messages)
    assert tier_messages(encoded, 1.0) == list(encoded.messages)
    half = tier_messages(encoded, 0.5)
    assert len(half) == (total + 1) // 2
    headers = [decode_header(m) for m in half]
    assert [h.chunk_index for h in headers] == list(range(len(half)))
    assert {h.chunks_sent for h in headers} == {len(half)} and {h.chunk_count for h in headers} == {total}
    assert len(tier_messages(encoded, 0.0001)) == 1  # never nothing


class Captured:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.sent.append((data, address))


def test_the_feed_never_sends_a_datagram_janus_would_truncate() -> None:
    """A 2-packet chunk (up to 2,320 bytes) is refused and counted; the 1-packet chunks all go."""
    small, big = frame(packets=1), frame(packets=2)
    feed = JanusFeed(broadcaster=None, tiers=TIERS, host="127.0.0.1")  # type: ignore[arg-type]
    transport = Captured()
    over = [m for m in big.messages if len(m) > MAX_DATAGRAM]
    assert over, "the 2-packet frame should have chunks over a datagram"
    messages = [(m, ("127.0.0.1", 5101)) for m in (*small.messages, *big.messages)]
    asyncio.run(feed._send(transport, messages, 0.0))  # type: ignore[arg-type]
    assert all(len(data) <= MAX_DATAGRAM for data, _ in transport.sent)
    assert feed.stats.oversize_refused == len(over)
    assert feed.stats.datagrams_sent == len(messages) - len(over) == len(transport.sent)


def test_tier_choice_starts_low_moves_up_while_keeping_up_down_when_late_and_drops_a_viewer_that_stopped() -> None:
    choice = TierChoice(TIERS, TierPolicy(down_latency_ms=400, up_after=5, drop_queue=2000))
    assert choice.tier.share == 0.25
    assert choice.update(0.0, 0, 120.0) == "" and choice.tier.share == 0.25
    assert choice.update(5.0, 0, 120.0) and choice.tier.share == 0.5
    assert choice.update(9.0, 0, 120.0) == ""
    assert choice.update(10.0, 0, 120.0) and choice.tier.share == 1.0
    assert choice.update(11.0, 0, 120.0) == "" and choice.tier.share == 1.0  # the largest already
    assert choice.update(1.0, 0, 650.0) and choice.tier.share == 0.5
    assert choice.update(2.0, 0, 700.0) and choice.tier.share == 0.25
    assert choice.update(3.0, 0, 900.0) == ""  # already the smallest
    for t in (4.0, 6.0, 8.0):
        choice.update(t, 0, 100.0)
    assert choice.update(9.5, 0, 100.0) and choice.tier.share == 0.5  # 5 s of good reports: one tier up
    assert choice.update(10.0, 5000, None) == "drop"
    assert choice.update(11.0, 0, 2500.0) == "drop"  # seconds behind: only leaving flushes Janus's queue


def test_an_sfu_answer_must_be_sdp() -> None:
    assert parse_viewer_message(json.dumps({"type": "sfuAnswer", "sdp": "v=0\r\n..."})) == SfuAnswer("v=0\r\n...")
    for bad in ({"type": "sfuAnswer"}, {"type": "sfuAnswer", "sdp": 5}, {"type": "sfuAnswer", "sdp": "hello"},
                {"type": "sfuAnswer", "sdp": "v=0" + "x" * 14_000}):
        with pytest.raises(ValueError, match="sfuAnswer 'sdp'"):
            parse_viewer_message(json.dumps(bad))


# ----------------------------------------------------------------------------- a real Janus
def require_janus_lab() -> None:
    require(os.geteuid() == 0, "the SFU tests need root (a network namespace)")
    require(which("janus") is not None, "Janus not installed (apt-get install janus)")


@pytest.fixture(scope="module")
def sfu_host() -> Iterator[tuple[SealedHost, ServerProcess]]:
    """The streamer with --sfu janus (Janus its child) inside a sealed namespace; 5 mm full frames."""
    require_janus_lab()
    with SealedHost() as host:
        server = ServerProcess("--quantize", "5", "--sfu", "janus", "--sfu-ice", INTERFACE, prefix=host.prefix)
        try:
            yield host, server
        finally:
            server.stop()
            time.sleep(0.5)
            left = subprocess.run(["ip", "netns", "pids", host.name], capture_output=True, text=True).stdout.split()
            assert not left, f"processes outlived the streamer (Janus?): {left}"


def in_host(host: SealedHost, code: str, timeout: float = 60) -> dict[str, Any]:
    """Run Python ``code`` (which prints one JSON line) inside the namespace; its result."""
    proc = subprocess.run([*host.prefix, sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stderr[-2000:]
    return json.loads(lines[-1])


def stats(host: SealedHost, server: ServerProcess) -> dict[str, Any]:
    return in_host(host, f"import urllib.request; print(urllib.request.urlopen('{server.url}stats').read().decode())")


def test_chromium_draws_through_janus_on_an_unordered_unreliable_channel(
        sfu_host: tuple[SealedHost, ServerProcess]) -> None:
    host, server = sfu_host
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
    proc = subprocess.run([*host.prefix, sys.executable, "-m", "natlab.probe", "chromium", server.url,
                           "--frames", "8", "--timeout", "60"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in result, (result, list(server.output)[-10:])
    assert result["frames"] >= 8 and result["points"] > 10_000
    assert result["points_channel"] == {"label": "JanusDataChannel", "ordered": False, "maxRetransmits": 0,
                                        "viaSfu": True}
    assert "via SFU" in result["hud_path"] and result["path"]["remoteAddress"].startswith(ADDRESS)
    assert not result["page_errors"]


def test_janus_refuses_anyone_without_a_token_the_streamer_minted(sfu_host: tuple[SealedHost, ServerProcess]) -> None:
    host, _ = sfu_host
    result = in_host(host, """
import json, urllib.request
out = {}
for name, token in (("none", None), ("stranger", "not-a-minted-token")):
    body = {"janus": "create", "transaction": "t"}
    if token:
        body["token"] = token
    req = urllib.request.Request("http://127.0.0.1:8088/janus", json.dumps(body).encode())
    out[name] = json.loads(urllib.request.urlopen(req).read())
print(json.dumps(out))
""")
    for name in ("none", "stranger"):
        assert result[name]["janus"] == "error" and result[name]["error"]["code"] == 403, result


FROZEN_VIEWER = """
import asyncio, json, os, signal, sys, time
from headless.sfu_receiver import SfuReceiver
async def main():
    async with SfuReceiver(sys.argv[1]) as rx:
        await rx.wait_frames(5, timeout=40)
        print(json.dumps({"ready": True}), flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)  # frozen: reads, acknowledges and answers nothing from here on
asyncio.run(main())
"""

LIVE_VIEWER = """
import asyncio, json, sys, time
from headless.sfu_receiver import SfuReceiver
async def main():
    async with SfuReceiver(sys.argv[1]) as rx:
        await rx.wait_frames(5, timeout=40)
        start = len(rx.state.records)
        await asyncio.sleep(float(sys.argv[2]))
        late = sorted(r.latency for r in rx.state.records[start:])
        print(json.dumps({"frames": len(late), "p50": late[len(late) // 2], "tiers": rx.tiers}), flush=True)
asyncio.run(main())
"""


def test_a_frozen_viewer_is_disconnected_and_the_others_keep_their_frames(
        sfu_host: tuple[SealedHost, ServerProcess]) -> None:
    """Janus never drops for a slow viewer: a frozen one would have its points queued without bound. The
    streamer notices its silence and ends its Janus session; a live viewer keeps drawing meanwhile."""
    host, server = sfu_host
    frozen = subprocess.Popen([*host.prefix, sys.executable, "-c", FROZEN_VIEWER, server.url.rstrip("/")],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    live = None
    try:
        assert frozen.stdout is not None and json.loads(frozen.stdout.readline())["ready"]
        live = subprocess.Popen([*host.prefix, sys.executable, "-c", LIVE_VIEWER, server.url.rstrip("/"), "10"],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            viewers = stats(host, server)["viewers"]
            if len(viewers) == 1:  # the frozen one is gone, the live one remains
                break
            time.sleep(1)
        assert len(viewers) == 1, viewers
        out, _ = live.communicate(timeout=60)
        result = json.loads(out.strip().splitlines()[-1])
        assert result["frames"] >= 30, result  # 10 s at 10 Hz, whatever tier it was moved to
    finally:
        os.kill(frozen.pid, signal.SIGKILL)
        frozen.wait()
        if live is not None and live.poll() is None:
            live.kill()
    assert any("silent for" in line for line in server.output), list(server.output)[-10:]


def test_janus_is_started_again_when_it_dies_and_viewers_watch_again(
        sfu_host: tuple[SealedHost, ServerProcess]) -> None:
    host, server = sfu_host
    janus = descendant_named(server.proc.pid, "janus")
    assert janus is not None
    os.kill(janus, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sfu = stats(host, server)["sfu"]
        if sfu["restarts"] == 1 and sfu["janus"] != janus:
            break
        time.sleep(1)
    assert sfu["restarts"] == 1 and sfu["janus"] != janus, sfu
    result = in_host(host, f"""
import asyncio, json
from headless.sfu_receiver import SfuReceiver
async def main():
    async with SfuReceiver({server.url.rstrip('/')!r}) as rx:
        records = await rx.wait_frames(5, timeout=40)
        print(json.dumps({{"frames": len(records)}}))
asyncio.run(main())
""")
    assert result["frames"] >= 5
    assert any("Janus exited" in line for line in server.output), list(server.output)[-10:]
