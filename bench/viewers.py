"""The viewer side of one benchmark run, as its own process (so it can live in a network namespace).

    python -m bench.viewers --transport T --url URL [--viewers N] [--duration S] [--warmup S] [--light]

Connects N viewers, waits the warm-up, records every finished frame for the duration, and prints
one JSON object on stdout: samples, link counters, the streamer's /stats before and after, and this
process's CPU seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import sys
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.metrics import FrameSample  # noqa: E402
from headless.receiver import BaseReceiver, FrameRecord, make_receiver  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "stats", timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def sample(viewer: int, r: FrameRecord) -> FrameSample:
    return FrameSample(viewer, r.frame_id, r.capture_time, r.arrival, r.latency * 1000.0,
                       100.0 * r.points_received / r.frame_points if r.frame_points else 0.0, r.complete,
                       r.coverage_pct)


async def record(transport: str, url: str, viewers: int, duration: float, warmup: float,
                 stats_url: str | None = None, points: bool = True) -> dict[str, Any]:
    stats_url = stats_url or url
    receivers: list[BaseReceiver] = []
    try:
        for _ in range(viewers):
            rx = make_receiver(transport, url, points=points)
            receivers.append(rx)
            await rx.connect(timeout=30)
        await asyncio.sleep(warmup)
        before = await asyncio.to_thread(server_stats, stats_url)
        cpu0 = cpu_seconds()
        link0 = [(r.assembler.stats.chunks_received, r.assembler.stats.chunks_lost, r.assembler.stats.bytes_received)
                 for r in receivers]
        first = [len(r.state.records) for r in receivers]
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < duration:
            await asyncio.sleep(min(0.5, duration - elapsed))
            print(json.dumps({"progress": min(elapsed + 0.5, duration)}), file=sys.stderr, flush=True)
        # the frames each viewer finished while measuring
        samples = [sample(viewer, record) for viewer, (r, n0) in enumerate(zip(receivers, first))
                   for record in r.state.records[n0:]]
        measured = time.monotonic() - started
        after = await asyncio.to_thread(server_stats, stats_url)
        cpu = cpu_seconds() - cpu0
        link = [0, 0, 0]
        for r, (c0, l0, b0) in zip(receivers, link0):
            link[0] += r.assembler.stats.chunks_received - c0
            link[1] += r.assembler.stats.chunks_lost - l0
            link[2] += r.assembler.stats.bytes_received - b0
        clock = [r.clock.best.rtt if r.clock.best else None for r in receivers]
    finally:
        await asyncio.gather(*(r.close() for r in receivers), return_exceptions=True)
    return {"duration": measured, "samples": [asdict(s) for s in samples], "chunks_received": link[0],
            "chunks_lost": link[1], "bytes_received": link[2], "cpu_seconds": cpu, "before": before,
            "after": after, "clock_rtt": clock}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--stats-url", help="where the stream's /stats is (default: --url; a relay node's upstream)")
    parser.add_argument("--viewers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--browser", action="store_true", help="viewers are headless Chromium pages")
    parser.add_argument("--light", action="store_true",
                        help="headless viewers read chunk headers only, decoding no points (many viewers on few cores)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not args.browser:
        try:
            import uvloop
            uvloop.install()
        except ImportError:
            pass
    if args.browser:
        from bench.browser import record_browser

        def progress(t: float) -> None:
            print(json.dumps({"progress": t}), file=sys.stderr, flush=True)

        stats_url = args.stats_url or args.url
        result = asyncio.run(record_browser(args.transport, args.url, args.viewers, args.duration, args.warmup,
                                            lambda _: server_stats(stats_url), progress))
    else:
        result = asyncio.run(record(args.transport, args.url, args.viewers, args.duration, args.warmup,
                                    args.stats_url, points=not args.light))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
