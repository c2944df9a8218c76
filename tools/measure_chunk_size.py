#!/usr/bin/env python3
"""Measure the chunk-size trade-off behind DEFAULT_CHUNK_PACKETS (results: docs/protocol.md).

For each message budget (in 1160-byte SCTP packets) it reports, on synthetic frames:
  * compression ratio, messages per frame and encode time (encoder only, in-process);
  * what a headless Python viewer receives over loopback from ``server.py`` (its own process)
    in a fixed time: frames/s, Mbit/s, complete frames, p50 latency;
  * the expected share of points delivered at 1 %, 2 % and 5 % packet loss: an unreliable message
    of k packets arrives only if all k do, so (1 - p)^k of its points survive.

    .venv/bin/python tools/measure_chunk_size.py [--seconds 8] [--packets 1,2,4,8,14]
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.synthetic import SyntheticSource  # noqa: E402
from headless.receiver import PointReceiver  # noqa: E402
from rtc.sctp_backlog import SCTP_PACKET_PAYLOAD  # noqa: E402
from stream.encoder import EncoderOptions, FrameEncoder  # noqa: E402


def encoder_figures(packets: int, quantize: float, frames: list[np.ndarray]) -> dict[str, float]:
    encoder = FrameEncoder(EncoderOptions(quantize_mm=quantize, chunk_packets=packets))
    encoder.encode(0, 0.0, frames[0])
    sizes, counts, times, raw = [], [], [], 0
    for i, pts in enumerate(frames):
        e = encoder.encode(i, 0.0, pts)
        sizes.extend(len(m) for m in e.messages)
        counts.append(len(e.messages))
        times.append(e.encode_seconds)
        raw += pts.nbytes
    packets_per_msg = np.ceil(np.array(sizes) / SCTP_PACKET_PAYLOAD)
    return {"ratio": raw / sum(sizes), "messages": statistics.mean(counts), "encode_ms": 1000 * statistics.mean(times),
            "packets_per_message": float(packets_per_msg.mean()),
            **{f"delivered_at_{p}pct": float(((1 - p / 100) ** packets_per_msg).mean() * 100) for p in (1, 2, 5)}}


async def receive(url: str, seconds: float) -> dict[str, float]:
    async with PointReceiver(url) as rx:
        await asyncio.sleep(1.0)
        start, n0, b0 = time.monotonic(), len(rx.state.records), rx.assembler.stats.bytes_received
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - start
        recs = rx.state.records[n0:]
        got = rx.assembler.stats.bytes_received - b0
    lat = [r.latency * 1000 for r in recs]
    return {"fps": len(recs) / elapsed, "mbps": got * 8 / elapsed / 1e6,
            "complete_pct": 100 * sum(r.complete for r in recs) / max(1, len(recs)),
            "p50_ms": statistics.median(lat) if lat else float("nan")}


def link_figures(packets: int, quantize: float, seconds: float) -> dict[str, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--port", str(port), "--quantize", str(quantize),
                             "--chunk-packets", str(packets)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        return asyncio.run(receive(f"http://127.0.0.1:{port}/", seconds))
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--packets", default="1,2,4,8,14")
    args = parser.parse_args()
    source = SyntheticSource()
    frames = [source.frame(i * 25).points for i in range(8)]
    print("| mode | packets/msg | ratio | msgs/frame | encode ms | points kept @1% | @2% | @5% loss "
          "| loopback fps | Mbit/s | complete % | p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for quantize in (0.0, 5.0):
        for packets in (int(p) for p in args.packets.split(",")):
            e = encoder_figures(packets, quantize, frames)
            link = link_figures(packets, quantize, args.seconds)
            mode = "float32" if quantize == 0 else f"spherical {quantize:g} mm"
            print(f"| {mode} | {packets} | {e['ratio']:.2f} | {e['messages']:.0f} | {e['encode_ms']:.1f} "
                  f"| {e['delivered_at_1pct']:.1f} | {e['delivered_at_2pct']:.1f} | {e['delivered_at_5pct']:.1f} "
                  f"| {link['fps']:.1f} | {link['mbps']:.0f} | {link['complete_pct']:.0f} | {link['p50_ms']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
