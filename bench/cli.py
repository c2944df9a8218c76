"""``server.py bench``: flags, the run, the report."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .metrics import table, verdict
from .runner import TRANSPORTS, BenchPlan, run_bench


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", default=",".join(TRANSPORTS), metavar="LIST",
                        help=f"comma-separated transports to compare (default: all: {','.join(TRANSPORTS)})")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per transport (default: 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring (default: 3)")
    parser.add_argument("--viewers", type=int, default=1, help="viewers per transport (fan-out; default: 1)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write parameters, every frame and the summary")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="write a PNG: latency CDF and latency over time")


def streamer_args(args: argparse.Namespace) -> list[str]:
    out = ["--source", args.source, "--seed", str(args.seed), "--fps", str(args.fps),
           "--quantize", str(args.quantize), "--chunk-packets", str(args.chunk_packets), "--pace", str(args.pace)]
    if args.points:
        out += ["--points", str(args.points)]
    for flag, value in (("--kitti-dir", args.kitti_dir), ("--date", args.date), ("--drive", args.drive)):
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
    plan = BenchPlan(transports, streamer_args(args), args.duration, args.warmup, args.viewers)
    total = args.duration * len(transports)
    with tqdm(total=round(total), desc="bench", unit="s", mininterval=1.0,
              bar_format="{l_bar}{bar}| {n:.0f}/{total} s") as bar:
        def progress(seconds: float) -> None:
            bar.n = min(total, seconds)
            bar.refresh()
        runs = asyncio.run(run_bench(plan, progress))
    summaries = [r.summary() for r in runs]
    print()
    print(f"{args.fps:g} Hz, {'lossless float32' if not args.quantize else f'int16 at {args.quantize:g} mm'}, "
          f"source {args.source}, {args.viewers} viewer(s) per transport, {args.duration:g} s each, loopback")
    print(table(summaries))
    for s in summaries:
        if s["error"]:
            print(f"{s['transport']}: FAILED: {s['error']}")
    print(verdict(summaries))
    if args.json:
        args.json.write_text(json.dumps(report(args, plan, runs), indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        from .plot import write_plot
        write_plot(runs, args.plot, f"{args.fps:g} Hz, quantize {args.quantize:g} mm, {args.viewers} viewer(s)")
        print(f"wrote {args.plot}")
    return 1 if any(s["error"] for s in summaries) else 0


def report(args: argparse.Namespace, plan: BenchPlan, runs: list[Any]) -> dict[str, Any]:
    import aiortc

    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "aiortc": aiortc.__version__},
        "parameters": {**params, "streamer_args": plan.streamer_args, "profile": "loopback"},
        "transports": {r.transport: r.as_json() for r in runs},
        "verdict": verdict([r.summary() for r in runs]),
    }
