"""``python -m natlab``: build the NAT lab, deploy the streamer in it, and watch or measure from site B.

    sudo python -m natlab                          build it, print how to watch, wait for Ctrl-C
    sudo python -m natlab --check python chromium  connect from site B, print path and time to first frame
    sudo python -m natlab --variant symmetric      NATs that force the TURN relay (also: tcp-only)

Everything (namespaces, coturn, servers) is torn down on exit, also on error or Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from lab.process import ROOT

from .lab import VARIANTS, NatLab
from .stack import LabStack, StackOptions


def run_probe(lab: NatLab, viewer: str, url: str, frames: int = 5, timeout: float = 60.0,
              settle: float = 0.0) -> dict[str, Any]:
    """One viewer at site B (natlab.probe); its JSON result, or {"error": ...}. ``settle``: see the probe."""
    extra = ["--settle", str(settle)] if settle else []
    proc = subprocess.run([*lab.prefix("b"), sys.executable, "-m", "natlab.probe", viewer, url, "--frames", str(frames),
                           "--timeout", str(timeout), *extra], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout + settle + 30)
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {"viewer": viewer, "error": proc.stderr.strip()[-500:]}
    except json.JSONDecodeError:
        return {"viewer": viewer, "error": proc.stdout.strip()[-500:]}


def describe(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{result['viewer']:8s} FAILED: {result['error']}"
    path = result["path"] or {}
    relay = f" ({path['relayProtocol']})" if path.get("relayProtocol") else ""
    return (f"{result['viewer']:8s} {result['frames']} frames, {result['points']} points, path "
            f"{path.get('local')}{relay} → {path.get('remote')}, first frame after {result['first_frame_s']:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m natlab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=list(VARIANTS), default="cone",
                        help="; ".join(f"{v.name}: {v.description}" for v in VARIANTS.values()))
    parser.add_argument("--turn-transport", choices=("udp", "tcp"),
                        help="how both ends reach TURN (default: tcp for tcp-only, else udp)")
    parser.add_argument("--relay-only", action="store_true", help="both ends use only relay candidates")
    parser.add_argument("--no-stun", dest="stun", action="store_false",
                        help="give the ends only the TURN server, no STUN server")
    parser.add_argument("--check", nargs="+", choices=("python", "chromium"), metavar="VIEWER",
                        help="connect these viewers (python, chromium) from site B, report, and exit")
    parser.add_argument("--runs", type=int, default=1, help="connections per viewer with --check (default: 1)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the --check results to FILE")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
    transport = args.turn_transport or ("tcp" if args.variant == "tcp-only" else "udp")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with tempfile.TemporaryDirectory(prefix="natlab-") as tmp, NatLab(args.variant) as lab, \
                LabStack(lab, Path(tmp), StackOptions(turn_transport=transport, relay_only=args.relay_only,
                                                     stun=args.stun)) as stack:
            if args.check:
                return check(lab, stack, args)
            print(f"NAT lab '{args.variant}' is up ({VARIANTS[args.variant].description}).\n"
                  f"Watch from site B:\n"
                  f"  ip netns exec {lab.namespaces['b']} {sys.executable} -m natlab.probe chromium {stack.viewer_url}\n"
                  f"  ip netns exec {lab.namespaces['b']} {sys.executable} -m natlab.probe python {stack.viewer_url}\n"
                  f"Ctrl-C tears everything down.", flush=True)
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
            # tear down without being interrupted again (a second Ctrl-C would leave pieces behind)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            print("tearing down the NAT lab…", flush=True)
    except (PermissionError, RuntimeError, ValueError) as exc:
        print(f"natlab: error: {exc}", file=sys.stderr)
        return 2
    return 0


def check(lab: NatLab, stack: LabStack, args: argparse.Namespace) -> int:
    results = []
    for viewer in args.check:
        for _ in range(args.runs):
            result = run_probe(lab, viewer, stack.viewer_url)
            print(describe(result), flush=True)
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps({"variant": args.variant, "relay_only": args.relay_only, "stun": args.stun,
                                         "results": results}, indent=1))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
