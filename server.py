#!/usr/bin/env python3
"""WebRTC point-cloud streamer.

    python server.py [serve] [flags]        stream a source to browsers (default: synthetic LiDAR)
    python server.py make-sample DIR        write the synthetic scene as a KITTI raw drive
    python server.py bench                  latency benchmark of the transports (docs/benchmarks.md)

Run ``python server.py --help`` or ``python server.py make-sample --help`` for every flag.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

logger = logging.getLogger("server")

COMMANDS = ("serve", "make-sample", "bench")


def command_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with the flags every mode shares."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def build_serve_parser() -> argparse.ArgumentParser:
    from data.cli import add_source_arguments
    from signaling.cli import add_signaling_arguments
    from stream.cli import add_stream_arguments

    parser = command_parser(
        "server.py",
        "Stream LiDAR point frames to browsers over WebRTC (LZ4 chunks on an unordered, unreliable data "
        "channel). Other modes: 'server.py make-sample --help', 'server.py bench --help'.")
    add_source_arguments(parser)
    add_stream_arguments(parser)
    add_signaling_arguments(parser)
    return parser


def build_sample_parser() -> argparse.ArgumentParser:
    from data.sample import add_sample_arguments
    parser = command_parser(
        "server.py make-sample",
        "Write the synthetic scene as a KITTI raw drive (velodyne .bin files, timestamps, calibration), "
        "readable by pykitti and by --source kitti.")
    add_sample_arguments(parser)
    return parser


def build_bench_parser() -> argparse.ArgumentParser:
    from bench.cli import add_bench_arguments
    from data.cli import add_source_arguments
    from stream.cli import add_stream_arguments

    parser = command_parser(
        "server.py bench",
        "Measure what a viewer experiences, per transport, on the same frames: frames delivered, loss, "
        "latency percentiles, stalls, bandwidth and CPU. See docs/benchmarks.md.")
    add_bench_arguments(parser)
    add_source_arguments(parser)
    add_stream_arguments(parser)
    return parser


def bench(argv: list[str]) -> int:
    args = build_bench_parser().parse_args(argv)
    setup_logging(args.verbose, quiet_level=logging.WARNING)  # the table is the output
    from bench.cli import run
    return run(args)


def setup_logging(verbose: bool, quiet_level: int = logging.INFO) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else quiet_level,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not verbose:
        for noisy in ("aioice", "aiortc", "aiohttp.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def install_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def serve(argv: list[str]) -> int:
    args = build_serve_parser().parse_args(argv)
    setup_logging(args.verbose)
    from aiohttp import web

    from data.cli import create_source
    from data.source import SourceError
    from signaling.app import ServerConfig, init_app
    from signaling.cli import ice_servers
    from stream.broadcaster import FrameBroadcaster
    from stream.cli import encoder_options, loss_tolerance_options, pacing_options

    try:
        if not args.fps > 0:
            raise ValueError(f"--fps must be > 0, got {args.fps}")
        source = create_source(args)
        options = encoder_options(args)
        pacing = pacing_options(args)
        loss_tolerance = loss_tolerance_options(args)
        servers = ice_servers(args)
    except (SourceError, ValueError) as exc:
        print(f"server.py: error: {exc}", file=sys.stderr)
        return 2
    broadcaster = FrameBroadcaster(source, options, args.fps, loop=args.loop)
    app = init_app(ServerConfig(broadcaster, servers, pacing, loss_tolerance=loss_tolerance))
    fast = install_uvloop()
    logger.info("source: %s, %d frames per pass, %g fps, %s%s", source.description, len(source), args.fps,
                "int16 at %g mm" % args.quantize if args.quantize else "lossless float32",
                ", uvloop" if fast else "")
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://[{shown}]:{args.port}/" if ":" in shown else f"http://{shown}:{args.port}/"

    def announce(_: str) -> None:  # run_app calls this once the socket is listening
        print(f"Streaming. Open {url} in a browser (Ctrl-C to stop).", flush=True)

    try:
        web.run_app(app, host=args.host, port=args.port, print=announce, access_log=None)
    except OSError as exc:
        print(f"server.py: error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


def make_sample(argv: list[str]) -> int:
    args = build_sample_parser().parse_args(argv)
    setup_logging(args.verbose)
    from data.sample import write_sample
    try:
        path = write_sample(args)
    except (OSError, ValueError) as exc:
        print(f"server.py make-sample: error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {path}. Stream it with:\n  python server.py --source kitti --kitti-dir {args.dir} "
          f"--date {args.date} --drive {args.drive}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "serve"
    return {"serve": serve, "make-sample": make_sample, "bench": bench}[command](argv)


if __name__ == "__main__":
    sys.exit(main())
