"""Command-line flags for the HTTP/signaling side."""
from __future__ import annotations

import argparse

from aiortc import RTCIceServer


def add_signaling_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1; 0.0.0.0 for every interface)")
    group.add_argument("--port", type=int, default=8080, help="HTTP port (default: 8080)")
    group.add_argument("--stun", action="append", default=[], metavar="URL",
                       help="STUN server for both ends, e.g. stun:stun.example.org:3478 (repeatable; "
                            "default: none, so nothing outside is contacted)")


def ice_servers(args: argparse.Namespace) -> list[RTCIceServer]:
    for url in args.stun:
        if not url.startswith("stun:"):
            raise ValueError(f"--stun expects a stun: URL, got {url!r}")
    return [RTCIceServer(urls=url) for url in args.stun]
