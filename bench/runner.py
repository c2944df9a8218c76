"""Runs each transport against a fresh streamer, on the same frames, and collects the figures.

The streamer and the viewers are separate processes, so that a link profile can put each in its
own network namespace (bench/netem.py); on loopback both simply run here.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.process import ROOT, StreamerProcess, descendant_named, tree_cpu_seconds

from .metrics import FrameSample, TransportRun
from .viewers import server_stats

logger = logging.getLogger(__name__)

DEFAULT_TRANSPORTS = ("webrtc-unreliable", "webrtc-unfitted", "webrtc-reliable", "websocket")
TRANSPORTS = (*DEFAULT_TRANSPORTS, "sfu", "sfu-nodes")
"""Every row the benchmark can run; ``sfu`` and ``sfu-nodes`` only when asked for (they need a link profile,
and Janus)."""
VIEWER_TRANSPORT = {"webrtc-unfitted": "webrtc-unreliable", "sfu-nodes": "sfu"}
"""What the viewer connects with, where a row differs only on the streamer's side."""
STREAMER_FLAGS = {"webrtc-unfitted": ["--fit", "off"], "sfu": ["--sfu", "janus"], "sfu-nodes": ["--chunk-packets", "1"]}
"""Streamer flags of a row: webrtc-unfitted is the unreliable channel with every chunk of every frame (the
sender before link fitting), to compare in the same run; sfu runs Janus beside the streamer, and the
viewers watch through it (it needs a link profile: Janus offers no loopback candidates); sfu-nodes runs
``plan.nodes`` relay nodes beside the streamer (``server.py relay``, each with its own Janus), each one
viewer of the streamer, and spreads the viewers over them."""


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
    viewer_prefix: list[str] = field(default_factory=list)
    """Command prefix for the viewer process."""
    browser: bool = False
    """Viewers are headless Chromium pages running the real client (latency to *drawn*)."""
    light_viewers: bool = False
    """Headless viewers read chunk headers only (bench/viewers.py --light): what the fan-out costs the streamer and
    the SFU, measured with viewers whose own decoding does not take the machine's cores."""
    stalled_viewer: bool = False
    """Run one more viewer that connects and then freezes (bench/stall.py): what does it cost the others?"""
    rate_steps: list[tuple[float, float]] = field(default_factory=list)
    """(seconds into the measurement, Mbit/s): changes of the emulated link's rate during each row."""
    set_rate: Callable[[float], None] | None = None
    """Changes the emulated link's rate (NetLab.set_rate); needed for rate_steps."""
    base_rate: float = 0.0
    recovery_ms: float = 200.0
    nodes: int = 2
    """Relay nodes of the sfu-nodes row."""


PYTHON_VIEWERS_PER_PROCESS = 4
"""Headless viewers share a process up to this many: one Python process holds about a core, and 16 viewers in
one fell behind whatever they watched (docs/benchmarks.md, fan-out)."""


async def run_viewers(plan: BenchPlan, transport: str, url: str, tick: Callable[[float], None],
                      node_urls: list[str] | None = None) -> dict:
    """The viewers' figures: one process for Chromium pages, several for many headless viewers, merged. With
    ``node_urls``, the viewers are spread evenly over those nodes (``url`` is still where the stream's own
    /stats is read)."""
    per = plan.viewers if plan.browser else PYTHON_VIEWERS_PER_PROCESS
    processes = viewer_processes(plan.viewers, node_urls or [url], per)
    counts = [n for _, n in processes]
    done = [0.0] * len(counts)

    def progress(k: int, t: float) -> None:
        done[k] = t
        tick(min(done))

    results = await asyncio.gather(*(run_viewer_process(plan, transport, target, n, lambda t, k=k: progress(k, t),
                                                        stats_url=url)
                                     for k, (target, n) in enumerate(processes)))
    return merge_results(results, counts)


def viewer_processes(viewers: int, targets: list[str], per: int) -> list[tuple[str, int]]:
    """(URL, viewers) of each viewer process: the viewers spread as evenly as they go over ``targets``, at most
    ``per`` to a process."""
    shares = [viewers // len(targets) + (k < viewers % len(targets)) for k in range(len(targets))]
    return [(target, min(per, share - k)) for target, share in zip(targets, shares) for k in range(0, share, per)]


def merge_results(results: list[dict], counts: list[int]) -> dict:
    """One result from several viewer processes': samples renumbered by viewer, counters summed."""
    merged = dict(results[0])
    samples, offset = [], 0
    for result, count in zip(results, counts):
        samples += [{**s, "viewer": s["viewer"] + offset} for s in result["samples"]]
        offset += count
    merged["samples"] = samples
    for key in ("chunks_received", "chunks_lost", "bytes_received", "cpu_seconds"):
        merged[key] = sum(r[key] for r in results)
    merged["duration"] = min(r["duration"] for r in results)
    return merged


async def run_viewer_process(plan: BenchPlan, transport: str, url: str, viewers: int,
                             tick: Callable[[float], None], stats_url: str | None = None) -> dict:
    cmd = [*plan.viewer_prefix, sys.executable, "-m", "bench.viewers", "--transport",
           VIEWER_TRANSPORT.get(transport, transport), "--url", url, "--stats-url", stats_url or url,
           "--viewers", str(viewers), "--duration", str(plan.duration), "--warmup", str(plan.warmup),
           *(["--browser"] if plan.browser else []), *(["--light"] if plan.light_viewers else [])]
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    errors: list[str] = []

    async def follow_progress() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            text = line.decode(errors="replace").strip()
            try:
                tick(float(json.loads(text)["progress"]))
            except (ValueError, KeyError, TypeError):
                errors.append(text)

    async def finish() -> bytes:
        assert proc.stdout is not None
        out = await proc.stdout.read()
        await proc.wait()
        return out

    progress = asyncio.create_task(follow_progress())
    try:
        out = await asyncio.wait_for(finish(), plan.warmup + plan.duration + 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError("viewer process did not finish in time") from None
    finally:
        await asyncio.gather(progress, return_exceptions=True)
    if proc.returncode != 0:
        raise RuntimeError(f"viewer process failed ({proc.returncode}): {' | '.join(errors[-5:])}")
    return json.loads(out)  # type: ignore[no-any-return]


async def run_transport(plan: BenchPlan, transport: str, tick: Callable[[float], None]) -> TransportRun:
    run = TransportRun(transport, plan.duration, viewers=plan.viewers, recovery_ms=plan.recovery_ms)
    streamer = None
    nodes: list[StreamerProcess] = []
    try:
        streamer = await asyncio.to_thread(StreamerProcess, [*plan.streamer_args, *STREAMER_FLAGS.get(transport, [])],
                                           plan.host, plan.streamer_prefix)
        if transport == "sfu-nodes":
            nodes = await asyncio.gather(*(asyncio.to_thread(start_node, plan, streamer.url, k)
                                           for k in range(plan.nodes)))
            run.nodes = len(nodes)
        stalled = await start_stalled_viewer(plan, transport, streamer.url) if plan.stalled_viewer else None
        frozen_id = None
        if stalled is not None:
            (frozen_id,) = [v["id"] for v in (await stats_from_viewers(plan, streamer.url))["viewers"]]
        janus = descendant_named(streamer.proc.pid, "janus") if transport == "sfu" else None
        cpu_task = asyncio.create_task(sample_streamer_cpu(streamer, plan.warmup + 1.0, janus, nodes))
        steps = asyncio.create_task(step_rates(plan, run)) if plan.rate_steps else None
        try:
            result = await run_viewers(plan, transport, streamer.url, tick, [n.url for n in nodes] or None)
        finally:
            cpu_task.cancel()
            if steps is not None:
                steps.cancel()
                await asyncio.gather(steps, return_exceptions=True)
                assert plan.set_rate is not None
                await asyncio.to_thread(plan.set_rate, plan.base_rate)
            if stalled is not None:
                stalled.kill()
                await stalled.wait()
        streamer_share, janus_share = await cpu_task
        run.sender_cpu_seconds = streamer_share * result["duration"]
        run.sfu_cpu_seconds = janus_share * result["duration"] if janus is not None or nodes else None
        run.duration = result["duration"]
        run.samples = [FrameSample(**s) for s in result["samples"]]
        run.chunks_received, run.chunks_lost = result["chunks_received"], result["chunks_lost"]
        run.bytes_received = result["bytes_received"]
        run.receiver_cpu_seconds = result["cpu_seconds"]
        run.first_frame_ms = result.get("first_frame_ms")
        run.first_frame_steps = result.get("first_frame_steps")
        run.decode_ms_per_frame = result.get("decode_ms_per_frame")
        before, after = result["before"], result["after"]
        run.frames_offered = after["broadcast"]["framesEncoded"] - before["broadcast"]["framesEncoded"]
        measured = [v for v in after["viewers"] if v.get("sender") and v["id"] != frozen_id]
        if frozen_id is not None:
            # the streamer closes a viewer that stays silent (--viewer-timeout; a WebSocket's heartbeat):
            # then its last figures are those of the start of the measurement
            last = [v for v in (*after["viewers"], *before["viewers"]) if v["id"] == frozen_id and v.get("sender")]
            frozen = last[0]["sender"] if last else {"framesSent": 0, "framesSkipped": 0}
            run.stalled_viewer = {"frames_sent": frozen["framesSent"], "frames_skipped": frozen["framesSkipped"],
                                  "closed_by_streamer": not any(v["id"] == frozen_id for v in after["viewers"])}
        skipped_before = {v["id"]: v["sender"]["framesSkipped"] for v in before["viewers"] if v.get("sender")}
        run.frames_skipped = sum(v["sender"]["framesSkipped"] - skipped_before.get(v["id"], 0) for v in measured)
        run.t3_expired = t3_expired(before, measured)
    except Exception as exc:  # a transport that fails is reported, the others still run
        logger.warning("%s failed: %s", transport, exc)
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        for node in nodes:
            await asyncio.to_thread(node.stop)
        if streamer is not None:
            await asyncio.to_thread(streamer.stop)
    return run


NODE_PORT_STEP = 100
"""Relay nodes on one host need ports of their own: node k's Janus uses the defaults plus k × 100 (its
HTTP API, admin API and feed ports) and its own range of 500 UDP ports."""


def start_node(plan: BenchPlan, upstream: str, k: int) -> StreamerProcess:
    """Relay node ``k`` of the sfu-nodes row, beside the streamer (its namespace), taking the stream from it."""
    step = NODE_PORT_STEP * (k + 1)
    first = 21000 + 500 * k
    return StreamerProcess(["--sfu-api-port", str(8088 + step), "--sfu-admin-port", str(7088 + step),
                            "--sfu-feed-port", str(5101 + step), "--sfu-ports", f"{first}-{first + 499}",
                            "--max-offers-per-minute", "0", upstream],
                           plan.host, plan.streamer_prefix, command="relay", ready="Relaying")


async def stats_from_viewers(plan: BenchPlan, url: str) -> dict[str, Any]:
    """The streamer's /stats as the viewers reach it (from their namespace under a link profile)."""
    if not plan.viewer_prefix:
        return await asyncio.to_thread(server_stats, url)
    code = f"import urllib.request; print(urllib.request.urlopen({url + 'stats'!r}, timeout=10).read().decode())"
    proc = await asyncio.create_subprocess_exec(*plan.viewer_prefix, sys.executable, "-c", code,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"/stats from the viewers' side failed: {err.decode(errors='replace')[-300:]}")
    return json.loads(out)  # type: ignore[no-any-return]


async def step_rates(plan: BenchPlan, run: TransportRun) -> None:
    """Change the link's rate at the planned times (counted from the end of the viewers' warm-up; the viewer
    process needs a few seconds to start and connect, so the times are approximate, and logged as applied)."""
    assert plan.set_rate is not None
    started = asyncio.get_running_loop().time() + plan.warmup + 5.0  # connect + warm-up, roughly
    for at, mbit in plan.rate_steps:
        await asyncio.sleep(max(0.0, started + at - asyncio.get_running_loop().time()))
        await asyncio.to_thread(plan.set_rate, mbit)
        run.rate_steps.append((time.time(), mbit))


def t3_expired(before: dict[str, Any], measured: list[dict[str, Any]]) -> int | None:
    """SCTP retransmission timeouts of the measured viewers' point channels during the measurement; None
    where no viewer has the loss-tolerant congestion response (WebSocket, reliable channel)."""
    counted = [v for v in measured if v.get("congestion")]
    if not counted:
        return None
    start = {v["id"]: v["congestion"]["t3Expired"] for v in before["viewers"] if v.get("congestion")}
    return sum(v["congestion"]["t3Expired"] - start.get(v["id"], 0) for v in counted)


async def start_stalled_viewer(plan: BenchPlan, transport: str, url: str) -> asyncio.subprocess.Process:
    """bench/stall.py, connected and frozen; the caller kills it."""
    proc = await asyncio.create_subprocess_exec(*plan.viewer_prefix, sys.executable, "-m", "bench.stall", "--transport",
                                                transport, "--url", url, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
    except TimeoutError:
        line = b""
    if line.strip() != b"ready":
        proc.kill()
        err = await proc.stderr.read() if proc.stderr else b""
        await proc.wait()
        raise RuntimeError(f"stalled viewer did not connect: {err.decode(errors='replace')[-500:]}")
    return proc


async def sample_streamer_cpu(streamer: StreamerProcess, skip: float, janus: int | None = None,
                              nodes: list[StreamerProcess] | None = None) -> tuple[float, float]:
    """CPU shares (cores) of the streamer's process tree less Janus, and of the SFU: Janus (pid ``janus``, a
    child of the streamer) or the relay ``nodes`` (each process tree: the node and its Janus); 0 without. From
    ``skip`` seconds in until cancelled or the viewers finish."""
    await asyncio.sleep(skip)
    loop = asyncio.get_running_loop()

    def janus_seconds() -> float:
        return tree_cpu_seconds(janus) if janus is not None else 0.0

    def nodes_seconds() -> float:
        return sum(n.cpu_seconds() for n in nodes or [])

    t0, c0, j0, n0 = loop.time(), streamer.cpu_seconds(), janus_seconds(), nodes_seconds()
    shares = (0.0, 0.0)
    try:
        while streamer.proc.poll() is None:
            await asyncio.sleep(1.0)
            elapsed = max(loop.time() - t0, 1e-6)
            j = janus_seconds() - j0
            shares = ((streamer.cpu_seconds() - c0 - j) / elapsed, (j + nodes_seconds() - n0) / elapsed)
    except asyncio.CancelledError:
        pass
    return shares


async def run_bench(plan: BenchPlan, progress: Callable[[float], None]) -> list[TransportRun]:
    """Run every transport in turn; ``progress`` gets the seconds measured so far (all transports)."""
    runs = []
    for i, transport in enumerate(plan.transports):
        done = i * plan.duration
        runs.append(await run_transport(plan, transport, lambda t, base=done: progress(base + t)))
        progress((i + 1) * plan.duration)
    return runs
