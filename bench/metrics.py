"""Turns what the viewers and the server recorded into the benchmark's figures (docs/benchmarks.md)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

STALL_SECONDS = 0.5


@dataclass
class FrameSample:
    """One frame as one viewer finished it."""

    viewer: int
    frame_id: int
    capture_time: float
    arrival: float
    latency_ms: float
    """Capture timestamp → last chunk decoded, with the clock offset applied (docs/benchmarks.md)."""
    points_pct: float
    complete: bool
    coverage_pct: float | None = 100.0
    """Share of the scene's azimuth sectors this frame's points reach (headless/coverage.py); None from light
    viewers (headers only)."""


@dataclass
class TransportRun:
    """Everything measured for one transport."""

    transport: str
    duration: float
    samples: list[FrameSample] = field(default_factory=list)
    frames_offered: int = 0
    frames_skipped: int = 0
    chunks_received: int = 0
    chunks_lost: int = 0
    bytes_received: int = 0
    sender_cpu_seconds: float = 0.0
    """The streamer's process tree, less Janus where there is one."""
    sfu_cpu_seconds: float | None = None
    """Janus's, behind the sfu row; the relay nodes' (each with its Janus) in the sfu-nodes row; None elsewhere."""
    receiver_cpu_seconds: float = 0.0
    viewers: int = 1
    nodes: int | None = None
    """Relay nodes of the sfu-nodes row (None elsewhere)."""
    first_frame_ms: list[float] | None = None
    """Browser viewers: page open → first frame drawn, per viewer."""
    first_frame_steps: list[dict[str, Any]] | None = None
    """Browser viewers: where that time went, per viewer (bench/browser.py FIRST_FRAME_STEPS)."""
    decode_ms_per_frame: float | None = None
    """Browser viewers: main-thread time decoding chunks, per frame received."""
    t3_expired: int | None = None
    """SCTP retransmission timeouts on the point channels (None: not an unreliable WebRTC channel)."""
    stalled_viewer: dict[str, int] | None = None
    """With --stalled-viewer: what the streamer did for the frozen viewer (frames sent, skipped)."""
    rate_steps: list[tuple[float, float]] = field(default_factory=list)
    """With --rate-steps: (wall clock, Mbit/s) of each change of the emulated link's rate."""
    recovery_ms: float = 200.0
    """Latency a frame must stay under for the link to count as recovered after a rate step."""
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        lat = np.array([s.latency_ms for s in self.samples])
        chunks = self.chunks_received + self.chunks_lost
        pct = (lambda q: float(np.percentile(lat, q))) if lat.size else (lambda q: float("nan"))
        coverage = [s.coverage_pct for s in self.samples if s.coverage_pct is not None]
        return {
            "transport": self.transport,
            "viewers": self.viewers,
            "nodes": self.nodes,
            "frames_offered": self.frames_offered,
            "frames_delivered": len(self.samples),
            "frames_per_s": len(self.samples) / self.duration / self.viewers if self.duration else 0.0,
            "coverage_min_pct": min(coverage, default=float("nan")),
            "coverage_mean_pct": float(np.mean(coverage)) if coverage else float("nan"),
            "recovery_s": self.recoveries(),
            "frames_complete": sum(s.complete for s in self.samples),
            "frames_skipped_by_sender": self.frames_skipped,
            "chunks_lost_pct": 100.0 * self.chunks_lost / chunks if chunks else 0.0,
            "points_delivered_pct": float(np.mean([s.points_pct for s in self.samples])) if self.samples else 0.0,
            "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99),
                           "max": float(lat.max()) if lat.size else float("nan")},
            "stalls": self.stalls(),
            "t3_expired": self.t3_expired,
            "mbit_per_s": self.bytes_received * 8 / self.duration / 1e6 if self.duration else 0.0,
            "sender_cpu_pct": 100.0 * self.sender_cpu_seconds / self.duration if self.duration else 0.0,
            "sfu_cpu_pct": (100.0 * self.sfu_cpu_seconds / self.duration
                            if self.duration and self.sfu_cpu_seconds is not None else None),
            "receiver_cpu_pct": 100.0 * self.receiver_cpu_seconds / self.duration if self.duration else 0.0,
            "first_frame_ms": max(self.first_frame_ms) if self.first_frame_ms else None,
            "first_frame_steps": self.first_frame_steps,
            "decode_ms_per_frame": self.decode_ms_per_frame,
            "stalled_viewer": self.stalled_viewer,
            "error": self.error,
        }

    def recoveries(self) -> list[float | None]:
        """Per rate step: seconds from the step until every later frame (to the next step) stays under
        ``recovery_ms``; None if that never happens before the next step."""
        out: list[float | None] = []
        for k, (at, _) in enumerate(self.rate_steps):
            end = self.rate_steps[k + 1][0] if k + 1 < len(self.rate_steps) else float("inf")
            segment = sorted((s for s in self.samples if at <= s.capture_time < end), key=lambda s: s.capture_time)
            if not segment:
                out.append(None)
                continue
            late = [s.capture_time for s in segment if s.latency_ms > self.recovery_ms]
            if not late:
                out.append(0.0)
            elif late[-1] == segment[-1].capture_time:
                out.append(None)
            else:
                out.append(late[-1] - at)
        return out

    def stalls(self) -> int:
        """Gaps of STALL_SECONDS or more between consecutive frames reaching one viewer."""
        count = 0
        for viewer in {s.viewer for s in self.samples}:
            arrivals = sorted(s.arrival for s in self.samples if s.viewer == viewer)
            count += int((np.diff(arrivals) >= STALL_SECONDS).sum())
        return count

    def as_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "samples": [asdict(s) for s in self.samples]}


def verdict(summaries: list[dict[str, Any]]) -> str:
    """Which transport won on p99, and by how much."""
    ok = [s for s in summaries if s["frames_delivered"] and not s["error"]]
    if len(ok) < 2:
        return "Not enough transports delivered frames to compare."
    ranked = sorted(ok, key=lambda s: s["latency_ms"]["p99"])
    best, second = ranked[0], ranked[1]
    b, r = best["latency_ms"]["p99"], second["latency_ms"]["p99"]
    return (f"{best['transport']} won on p99 latency: {b:.0f} ms vs {r:.0f} ms for {second['transport']} "
            f"({r / b:.1f}× lower, {r - b:.0f} ms less).")


def table(summaries: list[dict[str, Any]]) -> str:
    cols = [("transport", "transport", "{}"), ("offered", "frames_offered", "{}"),
            ("delivered", "frames_delivered", "{}"), ("frames/s", "frames_per_s", "{:.1f}"),
            ("skipped", "frames_skipped_by_sender", "{}"),
            ("chunks lost %", "chunks_lost_pct", "{:.2f}"), ("points %", "points_delivered_pct", "{:.1f}"),
            ("coverage min %", "coverage_min_pct", "{:.0f}"),
            ("p50 ms", ("latency_ms", "p50"), "{:.0f}"), ("p95 ms", ("latency_ms", "p95"), "{:.0f}"),
            ("p99 ms", ("latency_ms", "p99"), "{:.0f}"), ("max ms", ("latency_ms", "max"), "{:.0f}"),
            ("stalls≥0.5s", "stalls", "{}"), ("T3", "t3_expired", "{}"), ("Mbit/s", "mbit_per_s", "{:.1f}"),
            ("sender CPU %", "sender_cpu_pct", "{:.0f}"), ("SFU CPU %", "sfu_cpu_pct", "{:.0f}"),
            ("receiver CPU %", "receiver_cpu_pct", "{:.0f}")]
    rows = [[c[0] for c in cols] + (["recovery s"] if any(s["recovery_s"] for s in summaries) else [])]
    for s in summaries:
        row = []
        for _, key, fmt in cols:
            value = s[key[0]][key[1]] if isinstance(key, tuple) else s[key]
            row.append("-" if value is None else fmt.format(value))
        if any(s["recovery_s"] for s in summaries):
            row.append(" ".join("never" if r is None else f"{r:.1f}" for r in s["recovery_s"]) or "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
