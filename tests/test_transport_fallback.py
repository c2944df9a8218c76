"""When WebRTC cannot connect, the page streams over the WebSocket by itself and says so: real Chromium and
the streamer in a namespace of their own whose UDP is dropped by nftables (as a firewall that lets only
TCP out would), so no ICE candidate pair can ever work. The choice of when to fall back and when to go back
to WebRTC is tested with stand-ins in client/test/fallback.test.js."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from shutil import which

import pytest

from lab.chromium import CHROMIUM
from lab.sealed_host import ADDRESS, SealedHost
from tests.conftest import ROOT, ServerProcess, require

NO_UDP = """
table inet no_udp {
    chain output {
        type filter hook output priority 0; policy accept;
        meta l4proto udp counter drop
    }
}
"""


@pytest.fixture
def host_without_udp() -> Iterator[SealedHost]:
    require(os.geteuid() == 0, "the fallback test needs root (a network namespace)")
    require(which("nft") is not None, "nftables not installed (apt-get install nftables)")
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
    with SealedHost() as host:
        subprocess.run([*host.prefix, "nft", "-f", "-"], input=NO_UDP, text=True, check=True)
        yield host


def udp_dropped(host: SealedHost) -> int:
    out = subprocess.run([*host.prefix, "nft", "-j", "list", "table", "inet", "no_udp"], capture_output=True,
                         text=True, check=True).stdout
    rules = [item["rule"] for item in json.loads(out)["nftables"] if "rule" in item]
    return sum(e["counter"]["packets"] for r in rules for e in r["expr"] if "counter" in e)


def probe(host: SealedHost, url: str) -> dict[str, object]:
    proc = subprocess.run([*host.prefix, sys.executable, "-m", "natlab.probe", "chromium", url, "--frames", "5",
                           "--timeout", "60"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-2000:]
    return json.loads(lines[-1])  # type: ignore[no-any-return]


NOTICE = """
import asyncio, json, sys
from playwright.async_api import async_playwright
from lab.chromium import CHROMIUM, CHROMIUM_ARGS

async def main(url):
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page()
        await page.goto(url)
        await page.wait_for_function("document.querySelector('[data-field=notice]').textContent.length > 0",
                                     timeout=30_000)
        print(json.dumps(await page.evaluate(
            "({notice: document.querySelector('[data-field=notice]').textContent, state: window.pointStream.state,"
            " frames: window.pointStream.framesDrawn, steps: window.pointStream.connectTimings || null})")))
        await browser.close()

asyncio.run(main(sys.argv[1]))
"""


def test_webrtc_forced_without_udp_says_why_nothing_comes(host_without_udp: SealedHost) -> None:
    """What a viewer of a rendezvous server sees where UDP is blocked and there is no TURN (no WebSocket for
    points there): the streamer answers, no path comes up, and the HUD says why and what the operator can do."""
    server = ServerProcess("--quantize", "5", "--points", "5000", "--fps", "5", host=ADDRESS,
                           prefix=host_without_udp.prefix)
    try:
        forced = f"{server.url}?transport=webrtc"
        proc = subprocess.run([*host_without_udp.prefix, sys.executable, "-c", NOTICE, forced],
                              capture_output=True, text=True, timeout=90, cwd=ROOT)
    finally:
        server.stop()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stderr[-2000:]
    seen = json.loads(lines[-1])
    assert "no network path to the streamer came up" in seen["notice"] and "TURN over TCP or TLS" in seen["notice"]
    assert seen["frames"] == 0 and seen["state"] != "open"


def test_without_udp_the_page_falls_back_to_the_websocket_and_says_so(host_without_udp: SealedHost) -> None:
    server = ServerProcess("--quantize", "5", "--points", "20000", "--fps", "5", host=ADDRESS,
                           prefix=host_without_udp.prefix)
    try:
        result = probe(host_without_udp, server.url)
    finally:
        server.stop()
    assert "error" not in result, (result, list(server.output)[-10:])
    assert result["frames"] >= 5 and result["points"] > 1_000
    assert result["hud_path"] == "websocket (tcp), WebRTC fallback"
    assert str(result["fallback"]).startswith("WebRTC did not connect within 5 s")
    assert "trying WebRTC again later" in str(result["notice"])
    assert udp_dropped(host_without_udp) > 0  # WebRTC really tried, and the firewall really stopped it
    assert not result["page_errors"]
