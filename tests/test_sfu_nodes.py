"""Several Janus nodes (``server.py relay URL``): one streamer, two relay nodes each with a Janus of its own,
viewers on both, all in a sealed namespace. The streamer sends one stream per node, whatever the audience;
a Chromium viewer of a node draws through that node's Janus; a node that loses its upstream connects again."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.chromium import CHROMIUM
from lab.sealed_host import ADDRESS, INTERFACE, SealedHost
from tests.conftest import ROOT, ServerProcess, require
from tests.test_sfu import in_host, require_janus_lab

NODES = ({"api": 8188, "admin": 7188, "feed": 5201, "ports": "21000-21499"},
         {"api": 8288, "admin": 7288, "feed": 5301, "ports": "21500-21999"})
"""Each node's Janus ports: distinct, as on one host (on their own hosts they could all be the defaults)."""

VIEWERS = """
import asyncio, contextlib, json, sys
from headless.sfu_receiver import SfuReceiver
async def main():
    async with contextlib.AsyncExitStack() as stack:
        viewers = [await stack.enter_async_context(SfuReceiver(u)) for u in sys.argv[1:]]
        records = await asyncio.gather(*(rx.wait_frames(10, timeout=60) for rx in viewers))
        print(json.dumps([{"frames": len(r), "points": max(x.points_received for x in r)} for r in records]),
              flush=True)
        await asyncio.sleep(90)  # still watching while the test looks (it kills this process)
asyncio.run(main())
"""


def node(host: SealedHost, upstream: str, k: int) -> ServerProcess:
    n = NODES[k]
    return ServerProcess("--sfu-ice", INTERFACE, "--sfu-api-port", str(n["api"]), "--sfu-admin-port",
                         str(n["admin"]), "--sfu-feed-port", str(n["feed"]), "--sfu-ports", n["ports"], upstream,
                         command="relay", ready="Relaying", host=ADDRESS, prefix=host.prefix)


def get(host: SealedHost, url: str) -> dict[str, Any]:
    return in_host(host, f"import urllib.request; print(urllib.request.urlopen('{url}').read().decode())")


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[tuple[SealedHost, ServerProcess, list[ServerProcess]]]:
    require_janus_lab()
    with SealedHost() as host:
        streamer = ServerProcess("--quantize", "5", "--points", "20000", "--chunk-packets", "1", host=ADDRESS,
                                 prefix=host.prefix)
        nodes: list[ServerProcess] = []
        try:
            nodes = [node(host, streamer.url, k) for k in range(2)]
            yield host, streamer, nodes
        finally:
            for proc in (*nodes, streamer):
                proc.stop()
            time.sleep(0.5)
            left = subprocess.run(["ip", "netns", "pids", host.name], capture_output=True, text=True).stdout.split()
            assert not left, f"processes outlived the test (Janus?): {left}"


def test_the_streamer_sends_one_stream_per_node_whatever_the_audience(
        two_nodes: tuple[SealedHost, ServerProcess, list[ServerProcess]]) -> None:
    host, streamer, nodes = two_nodes
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
    urls = [nodes[1].url.rstrip("/"), nodes[1].url.rstrip("/"), nodes[0].url.rstrip("/")]
    viewers = subprocess.Popen([*host.prefix, sys.executable, "-c", VIEWERS, *urls],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert viewers.stdout is not None
        line = viewers.stdout.readline()
        assert line.startswith("["), viewers.stderr.read()[-2000:] if viewers.poll() is not None else line
        headless = json.loads(line)
        assert all(v["frames"] >= 10 and v["points"] > 1_000 for v in headless), headless
        # three viewers on two nodes, and a page on the first: the streamer has two viewers, the nodes
        proc = subprocess.run([*host.prefix, sys.executable, "-m", "natlab.probe", "chromium", nodes[0].url,
                               "--frames", "8", "--timeout", "60"], capture_output=True, text=True, timeout=120,
                              cwd=ROOT)
        watching = [len(get(host, f"{n.url}stats")["viewers"]) for n in nodes]
        upstream_viewers = get(host, f"{streamer.url}stats")["viewers"]
    finally:
        viewers.kill()
        viewers.wait()
    page = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in page, (page, list(nodes[0].output)[-10:])
    assert page["frames"] >= 8 and page["points"] > 1_000
    assert "via SFU" in page["hud_path"] and page["points_channel"]["viaSfu"] is True
    assert watching[0] >= 1 and watching[1] == 2, watching  # the headless viewers (and the page, maybe) still there
    assert len(upstream_viewers) == 2, upstream_viewers
    for n in nodes:
        state = get(host, f"{n.url}stats")["upstream"]
        assert state["connected"] and state["ingest"]["oversize_refused"] == 0, state
    assert not page["page_errors"]


def test_a_node_connects_again_when_its_upstream_restarts(
        two_nodes: tuple[SealedHost, ServerProcess, list[ServerProcess]]) -> None:
    host, streamer, nodes = two_nodes
    first = get(host, f"{nodes[0].url}stats")["upstream"]["connections"]
    port = streamer.port
    streamer.stop()
    again = ServerProcess("--quantize", "5", "--points", "20000", "--chunk-packets", "1", host=ADDRESS,
                          prefix=host.prefix, port=port)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            state = get(host, f"{nodes[0].url}stats")["upstream"]
            if state["connected"] and state["connections"] > first:
                break
            time.sleep(1)
        assert state["connected"] and state["connections"] > first, state
        result = in_host(host, f"""
import asyncio, json
from headless.sfu_receiver import SfuReceiver
async def main():
    async with SfuReceiver('{nodes[0].url.rstrip('/')}') as rx:
        print(json.dumps({{"frames": len(await rx.wait_frames(5, timeout=40))}}))
asyncio.run(main())
""", timeout=90)
        assert result["frames"] >= 5
    finally:
        again.stop()
