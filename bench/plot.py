"""PNG of a benchmark run: latency CDF per transport, and latency over time."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import TransportRun


def write_plot(runs: list[TransportRun], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, series) = plt.subplots(1, 2, figsize=(13, 4.8))
    for run in runs:
        if not run.samples:
            continue
        lat = np.sort([s.latency_ms for s in run.samples])
        cdf.plot(lat, np.arange(1, lat.size + 1) / lat.size, label=run.transport)
        t0 = min(s.arrival for s in run.samples)
        series.plot([s.arrival - t0 for s in run.samples], [s.latency_ms for s in run.samples], ".", ms=3,
                    label=run.transport)
    cdf.set_xscale("log")
    cdf.set_xlabel("latency, capture → last chunk decoded (ms)")
    cdf.set_ylabel("share of frames")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend()
    series.set_xlabel("time in run (s)")
    series.set_ylabel("latency (ms)")
    series.set_yscale("log")
    series.grid(True, which="both", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
