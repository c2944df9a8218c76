"""Runs each transport against a fresh streamer, on the same frames, and collects the figures."""
from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stream.assembler import AssembledFrame
from stream.receiver import BaseReceiver, make_receiver

from .metrics import FrameSample, TransportRun
from .process import StreamerProcess

logger = logging.getLogger(__name__)

TRANSPORTS = ("webrtc-unreliable", "webrtc-reliable", "websocket")


@dataclass
class BenchPlan:
    """One benchmark run."""

    transports: list[str]
    streamer_args: list[str]
    """Flags for ``server.py`` (source, fps, quantisation, ...)."""
    duration: float = 15.0
    """Seconds measured per transport (after warm-up)."""
    warmup: float = 3.0
    viewers: int = 1
    host: str = "127.0.0.1"
    """Address the streamer listens on and viewers connect to."""
    streamer_prefix: list[str] = field(default_factory=list)
    """Command prefix to run the streamer elsewhere, e.g. ["ip", "netns", "exec", "NAME"]."""


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_transport(plan: BenchPlan, transport: str, tick: Callable[[float], None]) -> TransportRun:
    run = TransportRun(transport, plan.duration, viewers=plan.viewers)
    streamer = await asyncio.to_thread(StreamerProcess, plan.streamer_args, plan.host, plan.streamer_prefix)
    receivers: list[BaseReceiver] = []
    recording = False

    def collector(viewer: int, rx_ref: list[BaseReceiver]) -> Callable[[AssembledFrame], None]:
        def on_frame(frame: AssembledFrame) -> None:
            if not recording:
                return
            rx = rx_ref[0]
            run.samples.append(FrameSample(
                viewer, frame.frame_id, frame.capture_time, frame.last_arrival,
                (frame.last_arrival + rx.clock.offset - frame.capture_time) * 1000.0,
                100.0 * frame.points_received / frame.frame_points if frame.frame_points else 0.0,
                frame.complete))
        return on_frame

    try:
        for viewer in range(plan.viewers):
            ref: list[BaseReceiver] = []
            rx = make_receiver(transport, streamer.url, on_frame=collector(viewer, ref))
            ref.append(rx)
            receivers.append(rx)
            await rx.connect(timeout=30)
        await asyncio.sleep(plan.warmup)
        before = await asyncio.to_thread(streamer.stats)
        cpu_server, cpu_self = streamer.cpu_seconds(), self_cpu_seconds()
        link = [(rx.assembler.stats.chunks_received, rx.assembler.stats.chunks_lost,
                 rx.assembler.stats.bytes_received) for rx in receivers]
        recording = True
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < plan.duration:
            await asyncio.sleep(min(0.5, plan.duration - elapsed))
            tick(min(time.monotonic() - started, plan.duration))
        recording = False
        run.duration = time.monotonic() - started
        after = await asyncio.to_thread(streamer.stats)
        run.sender_cpu_seconds = streamer.cpu_seconds() - cpu_server
        run.receiver_cpu_seconds = self_cpu_seconds() - cpu_self
        for rx, (c0, l0, b0) in zip(receivers, link):
            run.chunks_received += rx.assembler.stats.chunks_received - c0
            run.chunks_lost += rx.assembler.stats.chunks_lost - l0
            run.bytes_received += rx.assembler.stats.bytes_received - b0
        run.frames_offered = after["broadcast"]["frames_encoded"] - before["broadcast"]["frames_encoded"]
        skipped_before = {v["id"]: v["sender"]["frames_skipped"] for v in before["viewers"] if v["sender"]}
        run.frames_skipped = sum(v["sender"]["frames_skipped"] - skipped_before.get(v["id"], 0)
                                 for v in after["viewers"] if v["sender"])
    except Exception as exc:  # a transport that fails is reported, the others still run
        logger.exception("%s failed", transport)
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        await asyncio.gather(*(rx.close() for rx in receivers), return_exceptions=True)
        await asyncio.to_thread(streamer.stop)
    return run


async def run_bench(plan: BenchPlan, progress: Callable[[float], None]) -> list[TransportRun]:
    """Run every transport in turn; ``progress`` gets the seconds measured so far (all transports)."""
    runs = []
    for i, transport in enumerate(plan.transports):
        done = i * plan.duration
        runs.append(await run_transport(plan, transport, lambda t, base=done: progress(base + t)))
        progress((i + 1) * plan.duration)
    return runs
