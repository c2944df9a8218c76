"""Viewers that come and go abruptly, against a real streamer; afterwards it must hold no trace of them.

    .venv/bin/python tools/churn.py --cycles 200             # the full count (about a minute)
    .venv/bin/python tools/churn.py --cycles 200 --batch 1   # one viewer after another (about 2 minutes)
    PYTHONTRACEMALLOC=1 .venv/bin/python tools/churn.py ...  # also report what the interpreter holds

Starts ``server.py`` on loopback with short timeouts, then runs ``--cycles`` viewer connections in
batches of ``--batch`` (10), each batch in its own process, ending in one of three ways, in turn:
- ``close``: the viewer gets a frame and closes its peer connection (a tab closed normally);
- ``kill``: the viewer gets a frame and its process is SIGKILLed (a crash, a lost network: nothing is
  said, the streamer must notice the silence);
- ``ghost``: the viewer posts an offer and vanishes before connecting (the streamer's connect timeout).
It then waits for the streamer to be idle and to have released what its viewers freed
(viewers/memory.py), and compares it with a baseline taken the same way after ``--warmup``
connections (default 10; 0 = a streamer that never had a viewer): 0 viewers, 0 peer connections left
uncollected, no more asyncio tasks, resident memory within 10 %. The memory report (/stats) splits
resident memory into mapped files (library code), the C heap in use and free, and, with
PYTHONTRACEMALLOC=1, the interpreter's objects; see docs/security.md for what was measured.
Prints a JSON summary; exit status 1 if any check fails. tests/test_churn.py runs a smaller count.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.process import StreamerProcess  # noqa: E402
from viewers.memory import RELEASE_DELAY  # noqa: E402

BATCH = 10
KINDS = ("close", "kill", "ghost")
SERVER_FLAGS = ["--quantize", "5", "--fps", "5", "--max-viewers", "0", "--max-offers-per-minute", "0",
                "--viewer-timeout", "3", "--connect-timeout", "5",
                # whole frames, the most a viewer's queues hold: fitted, the producer encodes only the share
                # these viewers take, and what they free is too little for the memory check to tell from noise
                "--fit", "off"]


# ---------------------------------------------------------------- the viewer side (a child process)
async def viewers(url: str, count: int, kind: str) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection

    from headless.receiver import PointReceiver

    if kind == "ghost":
        import aiohttp
        pcs = []
        async with aiohttp.ClientSession() as http:
            for _ in range(count):
                pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                pc.createDataChannel("control")
                pc.createDataChannel("points", ordered=False, maxRetransmits=0)
                await pc.setLocalDescription(await pc.createOffer())
                async with http.post(f"{url}/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}) as r:
                    assert r.status == 200, await r.text()
                pcs.append(pc)  # never given the answer: it never connects
        print("ready", flush=True)
        os._exit(0)  # vanish without closing anything
    receivers = [PointReceiver(url) for _ in range(count)]
    await asyncio.gather(*(r.connect() for r in receivers))
    await asyncio.gather(*(r.wait_frames(1, timeout=30) for r in receivers))
    if kind == "kill":
        print("ready", flush=True)
        await asyncio.sleep(3600)  # the parent kills us here
    await asyncio.gather(*(r.close() for r in receivers))
    print("ready", flush=True)


def run_batch(url: str, kind: str, count: int = BATCH) -> None:
    proc = subprocess.Popen([sys.executable, __file__, "--viewer", kind, "--url", url, "--count", str(count)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{kind} batch failed: {proc.stderr.read() if proc.stderr else ''}"[-2000:])
        if kind == "kill":
            proc.send_signal(signal.SIGKILL)
    finally:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- the streamer side
def stats(url: str, collect: bool = False) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/stats{'?gc=1' if collect else ''}", timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def kib(memory: dict[str, int | None]) -> dict[str, int | None]:
    """/stats' memory report (viewers/memory.py) in KiB."""
    return {key: None if value is None else value // 1024 for key, value in memory.items()}


def settle(url: str, timeout: float) -> dict[str, Any]:
    """/stats once the streamer has no viewers left (or ``timeout`` passed) and has released what the
    last ones freed (viewers/memory.py)."""
    deadline = time.monotonic() + timeout
    while stats(url)["viewers"] and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(RELEASE_DELAY + 1.0)
    return stats(url)


def churn(cycles: int, warmup: int, batch: int = BATCH) -> dict[str, Any]:
    server = StreamerProcess(SERVER_FLAGS)
    url = server.url.rstrip("/")
    idle_within = 5 + 3 + 15  # connect timeout + viewer timeout + margin
    try:
        for i in range(warmup // batch):  # warm-up: the libraries' code on the viewer path mapped
            run_batch(url, KINDS[i % len(KINDS)], batch)
        base = settle(url, idle_within)
        started = time.monotonic()
        done = 0
        series = []
        while done < cycles:
            count = min(batch, cycles - done)
            run_batch(url, KINDS[(done // batch) % len(KINDS)], count)
            done += count
            if done % 60 == 0:
                series.append(kib(settle(url, idle_within)["memory"]))
        churn_seconds = time.monotonic() - started
        end = settle(url, idle_within)
        alive = stats(url, collect=True)["peerConnections"]
    finally:
        server.stop()
    result = {"cycles": cycles, "warmup_cycles": warmup // batch * batch, "batch": batch, "seconds": round(churn_seconds, 1), "viewers_left": len(end["viewers"]),
              "peer_connections_alive": alive,
              "tasks_before": base["tasks"], "tasks_after": end["tasks"],
              "memory_kib_before": kib(base["memory"]), "memory_kib_after": kib(end["memory"]),
              "rss_growth_pct": round(100 * (end["memory"]["resident"] / base["memory"]["resident"] - 1), 1),
              "memory_kib_every_60_cycles": series}
    result["ok"] = (result["viewers_left"] == 0 and alive == 0 and end["tasks"] <= base["tasks"]
                    and result["rss_growth_pct"] <= 10.0)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=200, help="viewer connections (default: 200)")
    parser.add_argument("--warmup", type=int, default=10,
                        help="connections before the baseline is taken (default: 10; 0: none; see docs/security.md)")
    parser.add_argument("--viewer", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=BATCH,
                        help=f"connections at once, in one process (default: {BATCH}; 1 = one after another)")
    parser.add_argument("--count", type=int, default=BATCH, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewer:
        asyncio.run(viewers(args.url, args.count, args.viewer))
        return 0
    if args.batch < 1 or args.cycles < 1:
        parser.error("--batch and --cycles must be at least 1")
    result = churn(args.cycles, args.warmup, args.batch)
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
