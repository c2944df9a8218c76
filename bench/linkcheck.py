"""Measure an emulated link with UDP: round-trip time and loss of a bounded burst of probes.

    python -m bench.linkcheck echo --port 9999 [--seconds 30]      (one side; exits by itself)
    python -m bench.linkcheck probe --host ADDR --port 9999 --count 500 --interval 0.002
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import time

PROBE = struct.Struct("<Id")


def echo(port: int, seconds: float) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", port))
        s.settimeout(0.2)
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data, addr = s.recvfrom(2048)
            except TimeoutError:
                continue
            s.sendto(data, addr)


def probe(host: str, port: int, count: int, interval: float, wait: float) -> dict[str, float]:
    rtts: dict[int, float] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        sent = 0
        next_send = time.monotonic()
        end = None
        while True:
            now = time.monotonic()
            if sent < count and now >= next_send:
                s.sendto(PROBE.pack(sent, time.monotonic()), (host, port))
                sent += 1
                next_send += interval
                if sent == count:
                    end = time.monotonic() + wait
            try:
                while True:
                    data = s.recv(2048)
                    seq, t0 = PROBE.unpack_from(data)
                    rtts.setdefault(seq, time.monotonic() - t0)
            except BlockingIOError:
                pass
            if end is not None and time.monotonic() >= end:
                break
            time.sleep(0.0005)
    values = sorted(rtts.values())
    return {"sent": count, "received": len(values),
            "round_trip_loss_pct": 100.0 * (count - len(values)) / count,
            "rtt_ms_median": 1000 * statistics.median(values) if values else float("nan"),
            "rtt_ms_min": 1000 * values[0] if values else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--port", type=int, default=9999)
    e.add_argument("--seconds", type=float, default=30.0)
    p = sub.add_parser("probe")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--interval", type=float, default=0.002)
    p.add_argument("--wait", type=float, default=1.0)
    args = parser.parse_args()
    if args.mode == "echo":
        echo(args.port, args.seconds)
    else:
        print(json.dumps(probe(args.host, args.port, args.count, args.interval, args.wait)))


if __name__ == "__main__":
    main()
