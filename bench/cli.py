"""``server.py bench``: flags, the run, the report."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from stream.encoder import EncoderOptions

from .metrics import table, verdict
from .netem import PROFILES, SERVER_ADDR, LinkProfile, NetLab
from .runner import DEFAULT_TRANSPORTS, TRANSPORTS, BenchPlan, run_bench


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", default=",".join(DEFAULT_TRANSPORTS), metavar="LIST",
                        help=f"comma-separated transports to compare (default: {','.join(DEFAULT_TRANSPORTS)}; "
                             "also: sfu, viewers through a Janus beside the streamer; sfu-nodes, through --nodes relay "
                             "nodes, each with its own Janus and one stream from the streamer; both with a --profile)")
    parser.add_argument("--nodes", type=int, default=2, help="relay nodes of the sfu-nodes row (default: 2)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per transport (default: 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring (default: 3)")
    parser.add_argument("--viewers", type=int, default=1, help="viewers per transport (fan-out; default: 1)")
    parser.add_argument("--profile", default="loopback", choices=["loopback", *PROFILES],
                        help="link between streamer and viewers: loopback (default), or an emulated link in network "
                             "namespaces (needs root): "
                             + "; ".join(p.describe() for p in PROFILES.values()).replace("%", "%%"))
    parser.add_argument("--delay-ms", type=float, help="emulated one-way delay (RTT = 2×), overrides the profile's")
    parser.add_argument("--loss-pct", type=float, help="emulated packet loss per direction, overrides the profile's")
    parser.add_argument("--rate-mbit", type=float, help="emulated link rate, overrides the profile's (0 = none)")
    parser.add_argument("--rate-steps", default="", metavar="MBIT@S,...",
                        help="change the emulated link's rate during each row, e.g. 5@5,50@10: 5 Mbit/s from 5 s into "
                             "the measurement, 50 from 10 s (needs --rate-mbit or a profile with a rate); the table "
                             "gets each step's recovery time (latency back under --recovery-ms)")
    parser.add_argument("--recovery-ms", type=float, default=200.0,
                        help="latency every frame after a rate step must stay under to count as recovered (200)")
    parser.add_argument("--browser", action="store_true",
                        help="viewers are real headless Chromium pages running the client (needs Debian's chromium); "
                             "latency is measured to the frame being drawn")
    parser.add_argument("--light-viewers", action="store_true",
                        help="headless viewers read each chunk's header and decode no points: frames, latency and "
                             "points are measured, coverage is not; light enough for 32 viewers on two cores")
    parser.add_argument("--stalled-viewer", action="store_true",
                        help="add a viewer that connects and then freezes (reads and acknowledges nothing): the "
                             "measured viewers show what it costs them, its own frames should be skipped")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write parameters, every frame and the summary")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="write a PNG: latency CDF and latency over time")


def streamer_args(args: argparse.Namespace) -> list[str]:
    out = ["--source", args.source, "--seed", str(args.seed), "--fps", str(args.fps),
           "--quantize", str(args.quantize), "--pace", str(args.pace),
           "--loss-tolerance", str(args.loss_tolerance), "--forward-tsn", args.forward_tsn, "--fit", args.fit,
           "--max-mbit", str(args.max_mbit), "--max-point-share", str(args.max_point_share),
           # the benchmark sets the load itself: no viewer cap, no offer rate limit
           "--max-viewers", "0", "--max-offers-per-minute", "0"]
    if args.chunk_packets is not None:
        out += ["--chunk-packets", str(args.chunk_packets)]
    if args.points:
        out += ["--points", str(args.points)]
    for flag, value in (("--kitti-dir", args.kitti_dir), ("--date", args.date), ("--drive", args.drive),
                        ("--topic", args.topic), ("--intensity-scale", args.intensity_scale),
                        ("--frames", args.frames), ("--time", args.time), ("--colour", args.colour)):
        if value:
            out += [flag, str(value)]
    return out


def run(args: argparse.Namespace) -> int:
    transports = [t.strip() for t in args.transport.split(",") if t.strip()]
    unknown = [t for t in transports if t not in TRANSPORTS]
    if unknown or not transports:
        print(f"server.py bench: error: unknown transport {', '.join(unknown) or '(none)'}; "
              f"choose from {', '.join(TRANSPORTS)}", file=sys.stderr)
        return 2
    if args.duration <= 0 or args.viewers < 1 or args.warmup < 0:
        print("server.py bench: error: --duration must be > 0, --viewers >= 1, --warmup >= 0", file=sys.stderr)
        return 2
    profile = link_profile(args)
    if {"sfu", "sfu-nodes"} & set(transports) and profile is None:
        print("server.py bench: error: the sfu and sfu-nodes rows need a link profile (--profile lan, say): Janus "
              "offers no loopback candidates, so its viewers run in their own network namespace", file=sys.stderr)
        return 2
    if args.light_viewers and args.browser:
        print("server.py bench: error: --light-viewers is for headless viewers, not --browser", file=sys.stderr)
        return 2
    if args.nodes < 1:
        print("server.py bench: error: --nodes must be >= 1", file=sys.stderr)
        return 2
    try:
        steps = [(float(at), float(mbit)) for mbit, at in (s.split("@") for s in args.rate_steps.split(",") if s)]
    except ValueError:
        print(f"server.py bench: error: --rate-steps wants MBIT@SECONDS,..., got {args.rate_steps!r}", file=sys.stderr)
        return 2
    if steps and not (profile and profile.rate_mbit):
        print("server.py bench: error: --rate-steps needs a rate-limited link (--rate-mbit)", file=sys.stderr)
        return 2
    plan = BenchPlan(transports, streamer_args(args), args.duration, args.warmup, args.viewers, browser=args.browser,
                     light_viewers=args.light_viewers, stalled_viewer=args.stalled_viewer, rate_steps=steps,
                     base_rate=profile.rate_mbit if profile else 0, recovery_ms=args.recovery_ms, nodes=args.nodes)
    total = args.duration * len(transports)
    lab = NetLab(profile) if profile else contextlib.nullcontext()
    try:
        with lab:
            if isinstance(lab, NetLab):
                plan.host, plan.streamer_prefix, plan.viewer_prefix = SERVER_ADDR, lab.server_prefix, lab.viewer_prefix
                plan.set_rate = lab.set_rate
            with tqdm(total=round(total), desc="bench", unit="s", mininterval=1.0,
                      bar_format="{l_bar}{bar}| {n:.0f}/{total} s") as bar:
                def progress(seconds: float) -> None:
                    bar.n = min(total, seconds)
                    bar.refresh()
                runs = asyncio.run(run_bench(plan, progress))
    except (PermissionError, RuntimeError) as exc:
        print(f"server.py bench: error: {exc}", file=sys.stderr)
        return 2
    link = profile.describe() if profile else "loopback"
    summaries = [r.summary() for r in runs]
    print()
    kind = "Chromium" if args.browser else "light Python" if args.light_viewers else "Python"
    print(f"{args.fps:g} Hz, {EncoderOptions(quantize_mm=args.quantize).describe()}, "
          f"source {args.source}, {args.viewers} {kind} viewer(s) per transport, "
          f"{args.duration:g} s each, link {link}")
    print(table(summaries))
    for s in summaries:
        if s["first_frame_ms"] is not None:
            print(f"{s['transport']}: page open → first frame drawn: {s['first_frame_ms']:.0f} ms (slowest viewer)")
        if s["decode_ms_per_frame"] is not None:
            print(f"{s['transport']}: decoding in the page: {s['decode_ms_per_frame']:.1f} ms per frame received")
        if s["stalled_viewer"] is not None:
            frozen = s["stalled_viewer"]
            closed = ", then the streamer closed it (silent)" if frozen["closed_by_streamer"] else ""
            print(f"{s['transport']}: the frozen viewer was sent {frozen['frames_sent']} frames and skipped "
                  f"{frozen['frames_skipped']}{closed} (not counted above)")
    for s in summaries:
        if s["error"]:
            print(f"{s['transport']}: FAILED: {s['error']}")
    print(verdict(summaries))
    if args.json:
        args.json.write_text(json.dumps(report(args, plan, runs, link), indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        from .plot import write_plot
        write_plot(runs, args.plot, f"{args.fps:g} Hz, quantize {args.quantize:g} mm, {args.viewers} viewer(s), {link}")
        print(f"wrote {args.plot}")
    return 1 if any(s["error"] for s in summaries) else 0


def link_profile(args: argparse.Namespace) -> LinkProfile | None:
    """The emulated link the flags ask for, or None for plain loopback."""
    custom = {k: v for k, v in (("delay_ms", args.delay_ms), ("loss_pct", args.loss_pct),
                                ("rate_mbit", args.rate_mbit)) if v is not None}
    if args.profile == "loopback" and not custom:
        return None
    base = PROFILES.get(args.profile, LinkProfile("custom"))
    for key, value in custom.items():
        if value < 0 or (key == "loss_pct" and value >= 100):
            raise SystemExit(f"server.py bench: error: --{key.replace('_', '-')} out of range: {value}")
    return dataclasses.replace(base, name=base.name if not custom else f"{base.name}+custom", **custom)


def report(args: argparse.Namespace, plan: BenchPlan, runs: list[Any], link: str) -> dict[str, Any]:
    import aiortc

    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "aiortc": aiortc.__version__},
        "parameters": {**params, "streamer_args": plan.streamer_args, "link": link},
        "transports": {r.transport: r.as_json() for r in runs},
        "verdict": verdict([r.summary() for r in runs]),
    }
