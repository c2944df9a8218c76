"""Command-line flags of the SFU (``server.py --sfu janus``)."""
from __future__ import annotations

import argparse
from dataclasses import replace

from .janus import JanusOptions, Tier
from .service import SfuSettings


def add_sfu_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("SFU (fan-out through Janus)")
    group.add_argument("--sfu", choices=["janus"], default=None,
                       help="start Janus beside this server (Debian package janus, its own configuration, never the "
                            "system service), send it every frame once, and let the page's viewers watch through "
                            "it: the stream's cost no longer grows with the audience. With 'signal': for the first "
                            "published stream, which must use --chunk-packets 1 (docs/deploy.md)")
    group.add_argument("--sfu-ice", default="", metavar="LIST",
                       help="interfaces or addresses Janus gathers ICE candidates on, comma-separated "
                            "(default: all but loopback)")
    group.add_argument("--sfu-public-ip", default="", metavar="IP",
                       help="the public address of a host behind 1:1 NAT (a cloud VM), advertised by Janus")
    group.add_argument("--sfu-ports", default="20000-20999", metavar="FIRST-LAST",
                       help="UDP ports Janus uses for viewers (open these; default: %(default)s)")
    group.add_argument("--sfu-api-port", type=int, default=8088, metavar="PORT",
                       help="Janus's HTTP API port, on loopback only (default: %(default)s)")
    group.add_argument("--sfu-admin-port", type=int, default=7088, metavar="PORT",
                       help="Janus's admin API port, on loopback only (default: %(default)s)")
    group.add_argument("--sfu-feed-port", type=int, default=5101, metavar="PORT",
                       help="first of the three loopback UDP ports the streamer feeds Janus's tiers on "
                            "(whole frames, half, a quarter; default: %(default)s)")


def sfu_settings(args: argparse.Namespace) -> SfuSettings | None:
    """The SFU settings the flags ask for, or None without --sfu. ValueError for a bad value."""
    if args.sfu is None:
        return None
    try:
        first, last = (int(p) for p in args.sfu_ports.split("-"))
    except ValueError:
        raise ValueError(f"--sfu-ports must be FIRST-LAST, got {args.sfu_ports!r}") from None
    if not 1024 <= first < last <= 65535:
        raise ValueError(f"--sfu-ports must be a range within 1024-65535, got {args.sfu_ports}")
    ports = [args.sfu_api_port, args.sfu_admin_port, *range(args.sfu_feed_port, args.sfu_feed_port + 3)]
    if any(not 1024 <= p <= 65535 for p in ports) or len(set(ports)) != len(ports):
        raise ValueError("--sfu-api-port, --sfu-admin-port and the three feed ports must be distinct, 1024-65535")
    tiers = tuple(Tier(i + 1, share, args.sfu_feed_port + i) for i, share in enumerate((1.0, 0.5, 0.25)))
    janus = replace(JanusOptions(), api_port=args.sfu_api_port, admin_port=args.sfu_admin_port, tiers=tiers,
                    ice_enforce=args.sfu_ice, nat_1_1=args.sfu_public_ip, rtp_ports=(first, last))
    return SfuSettings(janus=janus)
