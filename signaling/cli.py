"""Command-line flags for the HTTP/signaling side: listening, TLS, ICE servers, rendezvous."""
from __future__ import annotations

import argparse
import re
import ssl
from pathlib import Path

from viewers.settings import DEFAULT_MAX_VIEWERS

from .guard import DEFAULT_MAX_STREAMS, RateLimit
from .http_server import ConnectionLimits
from .ice import DEFAULT_TTL, IceOptions

STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A stream name, matched whole (``fullmatch``: ``$`` would let a trailing newline through)."""


def add_listen_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1; 0.0.0.0 for every interface)")
    group.add_argument("--port", type=int, default=port, help=f"HTTP(S) port (default: {port})")
    group.add_argument("--cert", type=Path, metavar="PEM", help="TLS certificate chain: serve HTTPS")
    group.add_argument("--key", type=Path, metavar="PEM", help="TLS private key for --cert")
    group.add_argument("--token", metavar="TOKEN",
                       help="shared secret viewers must present (open the page as /?token=TOKEN). With "
                            "--signaling: the token to present to the signaling server")
    group.add_argument("--token-file", type=Path, metavar="FILE", help="read --token from FILE")
    group.add_argument("--max-offers-per-minute", type=float, default=RateLimit.per_minute, metavar="N",
                       help="new connections per client address and minute, bursts of %d (default: %%(default)g; "
                            "0 = unlimited)" % RateLimit.burst)
    group.add_argument("--max-connections-per-address", type=int, default=ConnectionLimits.per_address,
                       metavar="N", help="HTTP connections one client address may hold at once; the next gets "
                                         "503 (default: %(default)s; 0 = unlimited)")
    group.add_argument("--header-timeout", type=float, default=ConnectionLimits.header_timeout, metavar="SECONDS",
                       help="close a connection that has not sent a complete request head this long after "
                            "opening or after its previous response (default: %(default)g)")


def add_ice_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "ICE (NAT traversal)", "The same flags configure both ends: the browser gets its ICE servers from the "
        "server it signals with. Default: none, so nothing outside is contacted.")
    group.add_argument("--stun", action="append", default=[], metavar="URL",
                       help="STUN server, e.g. stun:stun.example.org:3478 (aiortc uses the first one)")
    group.add_argument("--turn", action="append", default=[], metavar="URL",
                       help="TURN server: turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT] (TLS). "
                            "Repeatable; browsers try all, aiortc uses the first")
    group.add_argument("--turn-user", metavar="NAME", help="fixed TURN username (with --turn-pass)")
    group.add_argument("--turn-pass", metavar="PASSWORD", help="fixed TURN password")
    group.add_argument("--turn-secret", metavar="SECRET",
                       help="coturn static-auth-secret: mint time-limited TURN credentials per connection")
    group.add_argument("--turn-secret-file", type=Path, metavar="FILE",
                       help="read --turn-secret from FILE (keeps it out of the process list)")
    group.add_argument("--turn-ttl", type=float, default=DEFAULT_TTL, metavar="SECONDS",
                       help=f"lifetime of minted TURN credentials (default: {DEFAULT_TTL:g})")
    group.add_argument("--relay-only", action="store_true",
                       help="use only TURN relay candidates (hides both ends' addresses; needs --turn)")


def add_signaling_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the streamer: where it listens, or where it publishes, and its ICE servers."""
    add_listen_arguments(parser, 8080)
    parser.add_argument("--max-viewers", type=int, default=DEFAULT_MAX_VIEWERS, metavar="N",
                        help="viewers at once; the next gets 503 (default: %(default)s; 0 = unlimited)")
    parser.add_argument("--connect-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="close a peer that has not connected after this long (default: %(default)g)")
    parser.add_argument("--viewer-timeout", type=float, default=15.0, metavar="SECONDS",
                        help="close a connected viewer silent this long on its control channel: its tab or "
                             "process is gone (default: %(default)g; viewers speak every second)")
    group = parser.add_argument_group(
        "rendezvous", "Publish through a signaling server ('server.py signal') instead of listening: "
        "the streamer connects out, so it needs no inbound port.")
    group.add_argument("--signaling", metavar="URL",
                       help="signaling server to publish to, e.g. https://host:8443")
    group.add_argument("--stream", metavar="NAME", help="name to publish under (viewers open /view/NAME)")
    group.add_argument("--signaling-ca", type=Path, metavar="PEM",
                       help="CA certificate(s) to trust for an https:// --signaling server (e.g. self-signed)")
    add_ice_arguments(parser)


def ice_options(args: argparse.Namespace) -> IceOptions:
    """The ICE flags, checked; ValueError says what is wrong."""
    turn_secret = secret(args.turn_secret, args.turn_secret_file, "--turn-secret", min_length=0)
    return IceOptions(stun=list(args.stun), turn=list(args.turn), turn_user=args.turn_user, turn_pass=args.turn_pass,
                      turn_secret=turn_secret, turn_ttl=args.turn_ttl, relay_only=args.relay_only)


def add_rendezvous_limits(parser: argparse.ArgumentParser) -> None:
    """Flags of ``server.py signal`` beyond listening and ICE."""
    group = parser.add_argument_group("publishers")
    group.add_argument("--publish-token", metavar="TOKEN",
                       help="shared secret publishers must present (default: the same as --token)")
    group.add_argument("--publish-token-file", type=Path, metavar="FILE", help="read --publish-token from FILE")
    group.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS, metavar="N",
                       help="live streams at once (default: %(default)s)")


def secret(value: str | None, path: Path | None, flag: str, min_length: int = 8) -> str | None:
    """A secret given inline or in a file (stripped); ValueError for both, an unreadable file, or one
    shorter than ``min_length``."""
    if path is not None:
        if value is not None:
            raise ValueError(f"give {flag} or {flag}-file, not both")
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {flag}-file {path}: {exc.strerror}") from None
    if value is not None and len(value) < min_length:
        raise ValueError(f"{flag} must be at least {min_length} characters")
    return value


def connection_limits(args: argparse.Namespace) -> ConnectionLimits:
    """--max-connections-per-address and --header-timeout, checked; ValueError says what is wrong."""
    if args.max_connections_per_address < 0:
        raise ValueError(f"--max-connections-per-address must be >= 0, got {args.max_connections_per_address}")
    if not args.header_timeout >= 1:
        raise ValueError(f"--header-timeout must be at least 1 s, got {args.header_timeout:g}")
    return ConnectionLimits(args.header_timeout, args.max_connections_per_address or None)


def offer_rate(args: argparse.Namespace) -> RateLimit | None:
    if args.max_offers_per_minute < 0:
        raise ValueError(f"--max-offers-per-minute must be >= 0, got {args.max_offers_per_minute:g}")
    return RateLimit(per_minute=args.max_offers_per_minute) if args.max_offers_per_minute > 0 else None


def ice_flags_given(args: argparse.Namespace) -> bool:
    return bool(args.stun or args.turn or args.relay_only)


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """A server TLS context for --cert/--key, None for plain HTTP."""
    if args.cert is None and args.key is None:
        return None
    if args.cert is None or args.key is None:
        raise ValueError("--cert and --key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.cert, args.key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load TLS certificate {args.cert} / key {args.key}: {exc}") from None
    return context


def check_stream_name(name: str) -> str:
    if not STREAM_NAME.fullmatch(name):
        raise ValueError(f"stream name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                         "letter or digit")
    return name


def listen_url(host: str, port: int, tls: bool, path: str = "/") -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    scheme = "https" if tls else "http"
    return f"{scheme}://[{shown}]:{port}{path}" if ":" in shown else f"{scheme}://{shown}:{port}{path}"
