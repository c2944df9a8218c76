"""Command-line flags for the stream (rate, encoding, pacing, congestion response)."""
from __future__ import annotations

import argparse

from rtc.sctp_congestion import LossToleranceOptions

from .encoder import DEFAULT_CHUNK_PACKETS, EncoderOptions
from .sender import PacingOptions


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stream")
    group.add_argument("--fps", type=float, default=10.0, help="frames per second to stream (default: 10)")
    loop = group.add_mutually_exclusive_group()
    loop.add_argument("--loop", dest="loop", action="store_true", default=True,
                      help="start over at the end of the source (default)")
    loop.add_argument("--no-loop", dest="loop", action="store_false", help="stop after one pass")
    group.add_argument("--quantize", type=float, default=0.0, metavar="MM",
                       help="0 (default): lossless float32. MM > 0: x, y, z as int16 at MM millimetres "
                            "(5 fits ±160 m), intensity as uint8; about 2.8× fewer bytes")
    group.add_argument("--chunk-packets", type=int, default=DEFAULT_CHUNK_PACKETS, metavar="N",
                       help=f"largest point message, in 1160-byte SCTP packets (default: {DEFAULT_CHUNK_PACKETS})")
    group.add_argument("--pace", type=float, default=PacingOptions.spread, metavar="FRACTION",
                       help="spread each frame's chunks over this fraction of the frame interval "
                            f"(default: {PacingOptions.spread}; 0 = send as fast as the link takes them)")
    group.add_argument("--loss-tolerance", type=float, default=100 * LossToleranceOptions.max_loss, metavar="PCT",
                       help="packet loss below PCT %% is treated as random, not as congestion, on the unreliable "
                            "point channel: SCTP keeps its window (default: %(default)g, as WebRTC's media "
                            "congestion control; 0 = standard SCTP, which halves its window on any loss)")
    group.add_argument("--forward-tsn", choices=["past-received", "rfc3758"], default="past-received",
                       help="how far a FORWARD TSN skips on the unreliable point channel: past chunks the viewer "
                            "already received too (default), or only past abandoned ones as RFC 3758 says (for "
                            "comparison; Chromium viewers stall on lossy links with it: docs/protocol.md)")


def encoder_options(args: argparse.Namespace) -> EncoderOptions:
    return EncoderOptions(quantize_mm=args.quantize, chunk_packets=args.chunk_packets)


def pacing_options(args: argparse.Namespace) -> PacingOptions:
    if not 0 <= args.pace <= 1:
        raise ValueError(f"--pace must be between 0 and 1, got {args.pace}")
    return PacingOptions(spread=args.pace)


def loss_tolerance_options(args: argparse.Namespace) -> LossToleranceOptions | None:
    """None (standard SCTP congestion control) for ``--loss-tolerance 0``."""
    if not 0 <= args.loss_tolerance < 100:
        raise ValueError(f"--loss-tolerance must be at least 0 and below 100 (%), got {args.loss_tolerance}")
    if args.loss_tolerance == 0:
        return None
    return LossToleranceOptions(max_loss=args.loss_tolerance / 100,
                                forward_past_received=args.forward_tsn == "past-received")
