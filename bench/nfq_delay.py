"""Hold every packet queued to NFQUEUE ``--queue`` for ``--delay-ms``, then let it go (link delay emulation
for kernels without sch_netem). Runs inside a network namespace next to an nftables ``queue`` rule.

    python -m bench.nfq_delay --queue 0 --delay-ms 25
"""
from __future__ import annotations

import argparse
import heapq
import itertools
import select
import signal
import socket
import sys
import time
from typing import Any


def run(queue: int, delay: float) -> None:
    from netfilterqueue import COPY_META, NetfilterQueue

    held: list[tuple[float, int, Any]] = []
    order = itertools.count()

    def hold(packet: Any) -> None:
        heapq.heappush(held, (time.monotonic() + delay, next(order), packet))

    nfq = NetfilterQueue()
    nfq.bind(queue, hold, max_len=65536, mode=COPY_META)
    sock = socket.fromfd(nfq.get_fd(), socket.AF_UNIX, socket.SOCK_STREAM)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("ready", flush=True)
    try:
        while not stop:
            now = time.monotonic()
            while held and held[0][0] <= now:
                heapq.heappop(held)[2].accept()
            timeout = max(0.0, held[0][0] - now) if held else 0.5
            readable, _, _ = select.select([sock], [], [], timeout)
            if readable:
                nfq.run(block=False)
    finally:
        for _, _, packet in held:
            packet.accept()
        nfq.unbind()
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, required=True)
    args = parser.parse_args()
    try:
        run(args.queue, args.delay_ms / 1000.0)
    except OSError as exc:
        print(f"nfq_delay: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
