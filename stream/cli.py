"""Command-line flags for the stream (rate, encoding, pacing, congestion response)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from data.source import FrameSource
from rtc.sctp_congestion import LossToleranceOptions

from .encoder import DEFAULT_CHUNK_PACKETS, DEFAULT_QUANTIZE_MM, EncoderOptions
from .link_fit import MBIT, FitOptions
from .sender import PacingOptions

DEFAULT_FPS = 10.0


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stream")
    group.add_argument("--fps", type=float, default=None,
                       help=f"frames per second to stream (default: {DEFAULT_FPS:g}; a recording (bag, MCAP) "
                            "plays at its recorded times instead unless --fps is given)")
    group.add_argument("--record", type=Path, metavar="FILE.mcap",
                       help="also write every frame streamed to this new MCAP file (sensor_msgs/PointCloud2 on "
                            "/points, capture times; Foxglove and the ROS tools open it; --source plays it back)")
    group.add_argument("--speed", type=float, default=1.0, metavar="FACTOR",
                       help="a recording plays FACTOR times as fast as it was recorded (default: 1)")
    loop = group.add_mutually_exclusive_group()
    loop.add_argument("--loop", dest="loop", action="store_true", default=True,
                      help="start over at the end of the source (default)")
    loop.add_argument("--no-loop", dest="loop", action="store_false", help="stop after one pass")
    group.add_argument("--quantize", type=float, default=DEFAULT_QUANTIZE_MM, metavar="MM",
                       help=f"MM > 0: points quantised at MM millimetres (range and angles, every point within "
                            f"MM·0.87 of where it was), intensity as uint8 (default: {DEFAULT_QUANTIZE_MM:g}: below "
                            "any LiDAR's noise; about 3× fewer bytes than lossless, 5 mm about 4×); "
                            "0: lossless float32")
    group.add_argument("--chunk-packets", type=int, default=None, metavar="N",
                       help=f"largest point message, in 1160-byte SCTP packets (default: {DEFAULT_CHUNK_PACKETS}; "
                            "1 with --sfu)")
    group.add_argument("--fit", choices=["on", "off"], default="on",
                       help="on (default): each viewer gets the share of each frame its link carries now (a prefix "
                            "that covers the whole scene, sparser); off: every chunk of every frame, frames skipped "
                            "when the link is busy (the sender before link fitting; for comparison)")
    group.add_argument("--max-mbit", type=float, default=0.0, metavar="MBIT",
                       help="most Mbit/s any one viewer is sent (default: 0 = as much as its link carries)")
    group.add_argument("--max-point-share", type=float, default=1.0, metavar="FRACTION",
                       help="largest share of each frame's points any viewer is sent (default: 1)")
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


def encoder_options(args: argparse.Namespace, one_packet: bool = False) -> EncoderOptions:
    """``one_packet``: every chunk fits one packet unless the flags say otherwise (behind an SFU)."""
    packets = args.chunk_packets if args.chunk_packets is not None else 1 if one_packet else DEFAULT_CHUNK_PACKETS
    return EncoderOptions(quantize_mm=args.quantize, chunk_packets=packets)


def fit_options(args: argparse.Namespace) -> FitOptions:
    if args.max_mbit < 0 or not math.isfinite(args.max_mbit):
        raise ValueError(f"--max-mbit must be 0 (no ceiling) or above, got {args.max_mbit}")
    ceiling = args.max_mbit * MBIT if args.max_mbit else math.inf
    return FitOptions(enabled=args.fit == "on", max_rate_bytes=ceiling, max_point_share=args.max_point_share)


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


def frame_rate(source: FrameSource, fps: float | None, speed: float) -> tuple[float, float | None]:
    """The stream's frame rate, and the speed to play a recording at its recorded times (None: at ``fps``).
    A recording plays at its recorded times unless ``fps`` is given; anything else at ``fps`` or 10."""
    if fps is None and getattr(source, "timed", False):
        native = source.native_fps or DEFAULT_FPS
        return native * speed, speed
    if speed != 1.0:
        raise ValueError("--speed applies to recordings (bags, MCAP) played at their recorded times")
    return fps or DEFAULT_FPS, None
