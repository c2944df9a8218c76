"""Browser viewers for the benchmark: real headless Chromium running the real client."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from lab.chromium import CHROMIUM, CHROMIUM_ARGS
from lab.process import tree_cpu_seconds

from .metrics import FrameSample

QUERY = {"webrtc-unreliable": "", "webrtc-unfitted": "", "webrtc-reliable": "?reliable=1",
         "websocket": "?transport=websocket", "sfu": ""}
"""The page's address per row; behind an SFU the page finds it in /config by itself."""
FIRST_FRAME_STEPS = """({steps: window.pointStream.connectTimings,
    page: Math.round(performance.getEntriesByType('navigation')[0].responseEnd),
    resources: performance.getEntriesByType('resource').filter((e) => e.startTime < window.pointStream.firstFrameMs)
        .map((e) => [new URL(e.name).pathname, Math.round(e.startTime), Math.round(e.responseEnd)])})"""


async def record_browser(transport: str, url: str, viewers: int, duration: float, warmup: float,
                         server_stats: Callable[[str], dict[str, Any]],
                         progress: Callable[[float], None]) -> dict[str, Any]:
    """Open ``viewers`` pages, then measure; same result shape as the Python viewers (bench/viewers.py)."""
    from playwright.async_api import async_playwright

    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} not found (Debian package chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            pages = []
            for _ in range(viewers):
                page = await browser.new_page(viewport={"width": 1200, "height": 750})
                await page.goto(url + QUERY[transport])
                pages.append(page)
            await asyncio.gather(*(pg.wait_for_function("window.pointStream && window.pointStream.framesDrawn > 0",
                                                        timeout=60_000) for pg in pages))
            first_frame_ms = [await pg.evaluate("window.pointStream.firstFrameMs") for pg in pages]
            # where the time to the first frame went: the page's steps (ms after it began to connect; scriptStart,
            # sceneInit, firstChunk, firstFrameReceived: ms after page open) and when the page's resources arrived
            first_frame_steps = [await pg.evaluate(FIRST_FRAME_STEPS) for pg in pages]
            await asyncio.sleep(warmup)
            before = await asyncio.to_thread(server_stats, url)
            links0 = [await pg.evaluate("({...window.pointStream.link})") for pg in pages]
            decode0 = [await pg.evaluate("[window.pointStream.decodeMs, window.pointStream.framesReceived]")
                       for pg in pages]
            cpu0 = tree_cpu_seconds(os.getpid())
            start = time.time()
            t0 = time.monotonic()
            while (elapsed := time.monotonic() - t0) < duration:
                await asyncio.sleep(min(0.5, duration - elapsed))
                progress(min(elapsed + 0.5, duration))
            end = time.time()
            measured = time.monotonic() - t0
            cpu = tree_cpu_seconds(os.getpid()) - cpu0
            after = await asyncio.to_thread(server_stats, url)
            samples: list[FrameSample] = []
            link = [0, 0, 0]
            decode = [0.0, 0]
            for viewer, pg in enumerate(pages):
                state = await pg.evaluate("({link: {...window.pointStream.link}, samples: window.pointStream.samples})")
                for frame_id, drawn_at, latency, points_pct, complete, _clock_error, coverage in state["samples"]:
                    if start <= drawn_at <= end:
                        samples.append(FrameSample(viewer, frame_id, drawn_at - latency / 1000, drawn_at, latency,
                                                   points_pct, bool(complete), coverage))
                ms, frames = await pg.evaluate("[window.pointStream.decodeMs, window.pointStream.framesReceived]")
                decode[0] += ms - decode0[viewer][0]
                decode[1] += frames - decode0[viewer][1]
                l0 = links0[viewer]
                link[0] += state["link"]["chunksReceived"] - l0["chunksReceived"]
                link[1] += state["link"]["chunksLost"] - l0["chunksLost"]
                link[2] += state["link"]["bytesReceived"] - l0["bytesReceived"]
        finally:
            await browser.close()
    return {"duration": measured, "samples": [s.__dict__ for s in samples], "chunks_received": link[0],
            "chunks_lost": link[1], "bytes_received": link[2], "cpu_seconds": cpu, "before": before,
            "after": after, "first_frame_ms": first_frame_ms, "first_frame_steps": first_frame_steps,
            "decode_ms_per_frame": decode[0] / decode[1] if decode[1] else None}
