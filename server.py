#!/usr/bin/env python3
"""WebRTC point-cloud streamer.

    python server.py [serve] [flags]        stream a source to browsers (default: synthetic LiDAR)
    python server.py --signaling URL --stream NAME   publish through a rendezvous signaling server
    python server.py signal [flags]         run a rendezvous signaling server (docs/deploy.md)
    python server.py relay URL [flags]      an SFU node: Janus fed with one stream from URL, for more viewers
    python server.py make-sample DIR        write the synthetic scene as a KITTI raw drive
    python server.py bench                  latency benchmark of the transports (docs/benchmarks.md)

Run ``python server.py --help`` or ``python server.py make-sample --help`` for every flag.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal as signals
import ssl
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from signaling.app import ServerConfig
    from signaling.http_server import ConnectionLimits
    from signaling.ice import IceOptions

logger = logging.getLogger("server")

COMMANDS = ("serve", "signal", "relay", "make-sample", "bench")


def command_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with the flags every mode shares."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def build_serve_parser() -> argparse.ArgumentParser:
    from data.cli import add_source_arguments
    from sfu.cli import add_sfu_arguments
    from signaling.cli import add_signaling_arguments
    from stream.cli import add_stream_arguments

    parser = command_parser(
        "server.py",
        "Stream LiDAR point frames to browsers over WebRTC (compressed chunks on an unordered, unreliable data "
        "channel). Other modes: 'server.py signal --help', 'server.py make-sample --help', "
        "'server.py bench --help'.")
    add_source_arguments(parser)
    add_stream_arguments(parser)
    add_signaling_arguments(parser)
    add_sfu_arguments(parser)
    return parser


def build_signal_parser() -> argparse.ArgumentParser:
    from sfu.cli import add_sfu_arguments
    from signaling.cli import add_ice_arguments, add_listen_arguments, add_rendezvous_limits
    parser = command_parser(
        "server.py signal",
        "Rendezvous signaling server: streamers publish to it ('server.py --signaling URL --stream NAME'), "
        "browsers open /view/NAME. It relays offers and answers and hands out ICE servers (minting TURN "
        "credentials with --turn-secret); point data never passes through it.")
    add_listen_arguments(parser, 8443)
    add_rendezvous_limits(parser)
    add_ice_arguments(parser)
    add_sfu_arguments(parser)
    return parser


def build_relay_parser() -> argparse.ArgumentParser:
    from sfu.cli import add_sfu_arguments
    from signaling.cli import add_ice_arguments, add_listen_arguments
    parser = command_parser(
        "server.py relay",
        "An SFU node: takes one stream from URL (a streamer, e.g. http://HOST:8080/, or a rendezvous server's "
        "https://HOST:8443/view/NAME) as one viewer would, and serves the viewer's page through a Janus of its "
        "own. The upstream sends one stream per node, whatever each node's audience (docs/deploy.md, "
        "'Several Janus nodes'). The upstream must send one-packet chunks (--chunk-packets 1, or --sfu janus).")
    parser.add_argument("upstream", metavar="URL", help="where the stream comes from")
    parser.add_argument("--upstream-token", metavar="TOKEN", help="the upstream's --token, if it has one")
    parser.add_argument("--upstream-token-file", type=Path, metavar="FILE", help="read --upstream-token from FILE")
    parser.add_argument("--upstream-ca", type=Path, metavar="PEM",
                        help="CA certificate(s) to trust for an https:// upstream (e.g. self-signed)")
    parser.add_argument("--max-viewers", type=int, default=0, metavar="N",
                        help="viewers at once on this node; the next gets 503 (default: 0 = unlimited)")
    add_listen_arguments(parser, 8090)
    add_ice_arguments(parser)
    add_sfu_arguments(parser)
    parser.set_defaults(sfu="janus")
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
    from stream.cli import DEFAULT_FPS
    if args.fps is None:  # a benchmark runs at a known rate, recordings too: frames offered is what it counts
        args.fps = DEFAULT_FPS
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
    from data.cli import create_source
    from data.source import SourceError
    from record.mcap_recorder import RecordingError, check_writable
    from rtc.versions import dependency_problems
    from sfu.cli import sfu_settings
    from signaling.app import ServerConfig, init_app
    from signaling.cli import (check_stream_name, connection_limits, ice_flags_given, ice_options, listen_url,
                               offer_rate, secret, tls_context)
    from signaling.ice import janus_servers
    from stream.broadcaster import FrameBroadcaster
    from stream.cli import encoder_options, fit_options, frame_rate, loss_tolerance_options, pacing_options
    from viewers.settings import ViewerSettings

    try:
        if args.fps is not None and not args.fps > 0:
            raise ValueError(f"--fps must be > 0, got {args.fps}")
        if not args.speed > 0:
            raise ValueError(f"--speed must be > 0, got {args.speed}")
        if (args.signaling is None) != (args.stream is None):
            raise ValueError("--signaling and --stream go together")
        if args.stream is not None:
            check_stream_name(args.stream)
            if args.cert or args.key:
                raise ValueError("--cert/--key serve HTTPS; with --signaling nothing listens here (give them to "
                                 "'server.py signal')")
        sfu = sfu_settings(args)
        if sfu is not None:  # Janus gets the STUN and TURN servers the viewers get
            stun, turn = janus_servers(ice_options(args))
            sfu = replace(sfu, janus=replace(sfu.janus, stun=stun, turn=turn))
        if sfu is not None and args.signaling is not None:
            raise ValueError("--sfu runs Janus beside this streamer; to publish through a rendezvous server's SFU, "
                             "give --sfu janus to 'server.py signal' and --chunk-packets 1 here (docs/deploy.md)")
        if sfu is not None and args.chunk_packets not in (None, 1):
            raise ValueError("--sfu sends every chunk as one UDP datagram to Janus: --chunk-packets must be 1")
        source = create_source(args)
        if args.probe:
            from data.probe import describe
            print(describe(source))
            return 0
        fps, speed = frame_rate(source, args.fps, args.speed)
        if args.record is not None:
            check_writable(args.record)
        options = encoder_options(args, sfu is not None)
        pacing = pacing_options(args)
        loss_tolerance = loss_tolerance_options(args)
        fit = fit_options(args)
        ice = ice_options(args)
        tls = tls_context(args) if args.signaling is None else None
        client_tls = client_tls_context(args.signaling_ca)
        token = secret(args.token, args.token_file, "--token")
        rate = offer_rate(args)
        limits = connection_limits(args)
        if args.max_viewers < 0:
            raise ValueError(f"--max-viewers must be >= 0, got {args.max_viewers}")
        for flag, value in (("--connect-timeout", args.connect_timeout), ("--viewer-timeout", args.viewer_timeout)):
            if not value >= 1:
                raise ValueError(f"{flag} must be at least 1 s, got {value:g}")
    except (SourceError, RecordingError, ValueError) as exc:
        print(f"server.py: error: {exc}", file=sys.stderr)
        return 2
    broadcaster = FrameBroadcaster(source, options, fps, loop=args.loop, speed=speed, record=args.record)
    viewers = ViewerSettings(broadcaster, pacing, loss_tolerance, fit=fit, max_viewers=args.max_viewers or None,
                             connect_timeout=args.connect_timeout, silence_timeout=args.viewer_timeout)
    cfg = ServerConfig(viewers, ice, token=token if args.signaling is None else None, offer_rate=rate, sfu=sfu)
    for problem in dependency_problems():
        logger.warning("%s", problem)
    fast = install_uvloop()
    logger.info("source: %s, %d frames per pass, %s, %s%s", source.description, len(source),
                f"{fps:g} fps" if speed is None else f"recorded times ×{speed:g} (about {fps:.3g} fps)",
                options.describe(),
                ", uvloop" if fast else "")
    if args.signaling is not None:
        own_ice = ice if ice_flags_given(args) else None
        return asyncio.run(publish(cfg, args.signaling, args.stream, own_ice, client_tls, token))
    url = listen_url(args.host, args.port, tls is not None)
    return listen(init_app(cfg), args.host, args.port, tls, limits,
                  f"Streaming. Open {url} in a browser (Ctrl-C to stop).", "server.py")


def client_tls_context(ca: Path | None) -> ssl.SSLContext | None:
    """A TLS client context trusting ``ca`` (a PEM file) as well as the system's CAs; None = defaults."""
    if ca is None:
        return None
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load --signaling-ca {ca}: {exc}") from None
    return context


def listen(app: web.Application, host: str, port: int, tls: ssl.SSLContext | None, limits: ConnectionLimits,
           ready: str, prog: str) -> int:
    """Serve ``app`` (the streamer or the rendezvous server) until Ctrl-C; ``ready`` is printed once it listens."""
    from signaling.http_server import run

    try:
        run(app, host, port, tls, limits, lambda _: print(ready, flush=True))
    except OSError as exc:
        print(f"{prog}: error: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


async def publish(cfg: ServerConfig, signaling: str, stream: str, ice: IceOptions | None, tls: ssl.SSLContext | None,
                  token: str | None) -> int:
    """Rendezvous mode: stream through the signaling server at ``signaling``; no port is opened here."""
    from signaling.publisher import Publisher, RegistrationRefused

    def announce(url: str) -> None:
        print(f"Streaming. Open {url} in a browser (Ctrl-C to stop).", flush=True)

    try:
        publisher = Publisher(signaling, stream, cfg.viewers, ice, tls, announce, token=token)
    except ValueError as exc:
        print(f"server.py: error: {exc}", file=sys.stderr)
        return 2
    broadcast = asyncio.create_task(cfg.viewers.broadcaster.run())
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signals.SIGTERM, signals.SIGINT):  # stop cleanly: peers closed, producer process stopped
        loop.add_signal_handler(sig, main.cancel)  # type: ignore[union-attr]
    try:
        await publisher.run()
    except asyncio.CancelledError:
        logger.info("stopping")
    except RegistrationRefused as exc:
        print(f"server.py: error: {exc}", file=sys.stderr)
        return 1
    finally:
        await publisher.close()
        broadcast.cancel()
        await asyncio.gather(broadcast, return_exceptions=True)
    return 0


def signal(argv: list[str]) -> int:
    args = build_signal_parser().parse_args(argv)
    setup_logging(args.verbose)
    from sfu.cli import sfu_settings
    from signaling.cli import connection_limits, ice_options, listen_url, offer_rate, secret, tls_context
    from signaling.ice import janus_servers
    from signaling.rendezvous import RendezvousConfig, init_rendezvous_app

    try:
        ice = ice_options(args)
        tls = tls_context(args)
        token = secret(args.token, args.token_file, "--token")
        publish_token = secret(args.publish_token, args.publish_token_file, "--publish-token") or token
        rate = offer_rate(args)
        limits = connection_limits(args)
        if args.max_streams < 1:
            raise ValueError(f"--max-streams must be >= 1, got {args.max_streams}")
        sfu = sfu_settings(args)
        if sfu is not None:  # Janus gets the STUN and TURN servers the viewers get
            stun, turn = janus_servers(ice)
            sfu = replace(sfu, janus=replace(sfu.janus, stun=stun, turn=turn))
    except ValueError as exc:
        print(f"server.py signal: error: {exc}", file=sys.stderr)
        return 2
    app = init_rendezvous_app(RendezvousConfig(ice, token=token, publish_token=publish_token, offer_rate=rate,
                                               max_streams=args.max_streams, sfu=sfu))
    url = listen_url(args.host, args.port, tls is not None)
    return listen(app, args.host, args.port, tls, limits,
                  f"Signaling. Publish with: python server.py --signaling {url.rstrip('/')} --stream NAME; "
                  f"viewers open {url} (Ctrl-C to stop).", "server.py signal")


def relay(argv: list[str]) -> int:
    args = build_relay_parser().parse_args(argv)
    setup_logging(args.verbose)
    from urllib.parse import urlsplit

    from sfu.cli import sfu_settings
    from signaling.upstream import Upstream
    from signaling.cli import connection_limits, ice_options, listen_url, offer_rate, secret, tls_context
    from signaling.ice import janus_servers
    from signaling.sfu_node import NodeConfig, init_node_app

    try:
        upstream_url = urlsplit(args.upstream)
        if upstream_url.scheme not in ("http", "https") or not upstream_url.hostname:
            raise ValueError(f"the upstream must be an http:// or https:// URL, got {args.upstream!r}")
        if upstream_url.query or upstream_url.fragment:
            raise ValueError("give the upstream's token with --upstream-token, not in its URL")
        ice = ice_options(args)
        tls = tls_context(args)
        token = secret(args.token, args.token_file, "--token")
        upstream_token = secret(args.upstream_token, args.upstream_token_file, "--upstream-token")
        upstream_tls = client_tls_context(args.upstream_ca)
        rate = offer_rate(args)
        limits = connection_limits(args)
        if args.max_viewers < 0:
            raise ValueError(f"--max-viewers must be >= 0, got {args.max_viewers}")
        sfu = sfu_settings(args)
        assert sfu is not None
        stun, turn = janus_servers(ice)  # Janus gets the STUN and TURN servers the viewers get
        sfu = replace(sfu, janus=replace(sfu.janus, stun=stun, turn=turn))
    except ValueError as exc:
        print(f"server.py relay: error: {exc}", file=sys.stderr)
        return 2
    upstream = Upstream(args.upstream, sfu.janus.tiers, sfu.janus.feed_ip, upstream_token, upstream_tls)
    app = init_node_app(NodeConfig(upstream, sfu, ice, token=token, offer_rate=rate,
                                   max_viewers=args.max_viewers or None))
    url = listen_url(args.host, args.port, tls is not None)
    return listen(app, args.host, args.port, tls, limits,
                  f"Relaying {args.upstream}. Open {url} in a browser (Ctrl-C to stop).", "server.py relay")


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
    return {"serve": serve, "signal": signal, "relay": relay, "make-sample": make_sample,
            "bench": bench}[command](argv)


if __name__ == "__main__":
    sys.exit(main())
