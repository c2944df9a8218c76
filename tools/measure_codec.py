#!/usr/bin/env python3
"""Bits per point, encode and decode time of every encoding (results: docs/design.md, "The point codec").

For the synthetic scene and, with ``--source DIR``, a folder of scans (any format FolderSource reads, e.g.
KITTI Velodyne ``.bin`` files; do not commit KITTI's, its licence is non-commercial), it encodes each frame
as the streamer does (FrameEncoder: chunks of --chunk-packets packets, headers included) and reports:
  * bits per point, mean over the frames (and the range over frames);
  * encode time per frame in this process (the producer's work), the fastest of --repeats;
  * Python decode time per frame (headless viewers; the browser's is ``server.py bench --browser``'s
    "decoding in the page").

    .venv/bin/python tools/measure_codec.py [--source DIR] [--quantize 0,1,5,10] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.folder import FolderSource  # noqa: E402
from data.synthetic import SyntheticSource  # noqa: E402
from stream.encoder import EncoderOptions, FrameEncoder  # noqa: E402
from stream.protocol import decode_chunk  # noqa: E402


def frames_of(source: str, count: int) -> list[np.ndarray]:
    frames = SyntheticSource().frames() if source == "synthetic" else FolderSource(Path(source)).frames()
    out = []
    for frame in frames:
        if frame is None:
            continue
        out.append(frame.points)
        if len(out) == count:
            break
    return out


def measure(frames: list[np.ndarray], quantize: float, packets: int, repeats: int) -> dict[str, float]:
    encoder = FrameEncoder(EncoderOptions(quantize_mm=quantize, chunk_packets=packets))
    encoder.encode(0, 0.0, frames[0])  # compiled and warm
    bits, encode, decode = [], [], []
    for i, points in enumerate(frames):
        runs = [encoder.encode(i, 0.0, points) for _ in range(repeats)]
        bits.append(runs[0].nbytes * 8 / len(points))
        encode.append(min(r.encode_seconds for r in runs) * 1000)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            for message in runs[0].messages:
                decode_chunk(message)
            times.append((time.perf_counter() - started) * 1000)
        decode.append(min(times))
    return {"points": statistics.mean(len(f) for f in frames), "bits": statistics.mean(bits), "bits_min": min(bits),
            "bits_max": max(bits), "encode_ms": statistics.median(encode), "decode_ms": statistics.median(decode)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", action="append", default=[], metavar="DIR",
                        help="a folder of scans to measure besides the synthetic scene (repeatable)")
    parser.add_argument("--frames", type=int, default=20, help="frames per source (default: 20)")
    parser.add_argument("--quantize", default="0,1,5,10", help="steps in mm, 0 = lossless (default: 0,1,5,10)")
    parser.add_argument("--chunk-packets", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="encodes and decodes per frame; the fastest counts")
    args = parser.parse_args()
    steps = [float(q) for q in args.quantize.split(",")]
    print("| source | points per frame | encoding | bits per point (range over frames) | encode ms per frame | "
          "Python decode ms per frame |")
    print("|---|---|---|---|---|---|")
    for source in ["synthetic", *args.source]:
        frames = frames_of(source, args.frames)
        if not frames:
            sys.exit(f"no frames in {source}")
        for q in steps:
            m = measure(frames, q, args.chunk_packets, args.repeats)
            name = "FLOAT32" if q == 0 else f"SPHERICAL {q:g} mm"
            label = "synthetic" if source == "synthetic" else f"{Path(source).name} ({len(frames)} scans)"
            spread = f"{m['bits_min']:.1f}–{m['bits_max']:.1f}"
            print(f"| {label} | {m['points']:,.0f} | {name} | {m['bits']:.1f} ({spread}) | {m['encode_ms']:.1f} | "
                  f"{m['decode_ms']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
