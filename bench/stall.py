"""A viewer that connects, takes one frame, and then freezes (SIGSTOP on itself): it reads nothing and
acknowledges nothing, as a hung tab or a process stuck behind a dead link would. ``bench --stalled-viewer``
runs one beside the measured viewers to show what it costs them; the runner kills it afterwards."""
from __future__ import annotations

import argparse
import asyncio
import os
import signal

from headless.receiver import make_receiver


async def connect_then_freeze(transport: str, url: str) -> None:
    rx = make_receiver(transport, url)
    await rx.connect()
    await rx.wait_frames(1, timeout=30)
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # frozen here until the runner kills us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", required=True)
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    asyncio.run(connect_then_freeze(args.transport, args.url))


if __name__ == "__main__":
    main()
