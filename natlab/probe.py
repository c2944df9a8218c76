"""A viewer that reports what it got: ``python -m natlab.probe {python,chromium} URL``.

Prints one JSON line: frames, points in the fullest frame (received by Python, drawn by Chromium),
the selected candidate pair (path) or the page's WebSocket fallback, and the time from start (the browser:
page open) to the first frame. Exit status 1 with ``{"error": ...}`` when it gets no frames in time. Run it
from the repository root, where the viewer is, e.g.
``ip netns exec <site B> .venv/bin/python -m natlab.probe chromium URL``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from headless.receiver import PointReceiver
from lab.chromium import CHROMIUM, CHROMIUM_ARGS


async def probe_python(url: str, frames: int, timeout: float) -> dict[str, Any]:
    start = time.monotonic()
    async with asyncio.timeout(timeout):
        async with PointReceiver(url) as rx:
            await rx.wait_frames(1, timeout=timeout)
            first = time.monotonic() - start
            records = await rx.wait_frames(frames, timeout=timeout)
            # points: of the fullest frame (any one frame may have lost chunks on its way)
            return {"viewer": "python", "frames": len(records), "points": max(r.points_received for r in records),
                    "path": rx.path(), "first_frame_s": round(first, 3)}


RELAYED = "['local', 'remote'].some((k) => window.pointStream.path[k] === 'relay')"


async def probe_chromium(url: str, frames: int, timeout: float, settle: float = 0.0) -> dict[str, Any]:
    """``settle``: seconds to wait, after the frames, for a relayed path to become direct. A browser may
    start on the relay, the first pair to work, and move to the direct pair once its checks through both
    NATs succeed; the page's path row follows every 2 s."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 800, "height": 500})
            errors: list[str] = []
            console: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            await page.goto(url)
            try:
                await page.wait_for_function(
                    # a path: the candidate pair of a WebRTC connection, or the WebSocket the page fell back to
                    f"window.pointStream && window.pointStream.framesDrawn >= {frames}"
                    " && (window.pointStream.path || window.pointStream.fallback)",
                    timeout=timeout * 1000)
            except Exception as exc:  # say what the page saw: a bare timeout tells the next engineer nothing
                raise RuntimeError(f"{exc}; page: {await page_state(page)}; console: {console[-12:]}; "
                                   f"errors: {errors[-5:]}") from exc
            first_path = await page.evaluate("window.pointStream.path")
            if settle > 0 and first_path:
                try:
                    await page.wait_for_function(f"window.pointStream.path && !({RELAYED})", timeout=settle * 1000)
                except Exception:  # still relayed: report it as it is
                    pass
            status = await page.evaluate(
                "({frames: window.pointStream.framesDrawn, points: window.pointStream.mostDrawnPoints,"
                " path: window.pointStream.path, firstFrameMs: window.pointStream.firstFrameMs,"
                " hudPath: document.querySelector('[data-field=path]').textContent,"
                " steps: window.pointStream.connectTimings, pointsChannel: window.pointStream.pointsChannel,"
                " fallback: window.pointStream.fallback,"
                " notice: document.querySelector('[data-field=notice]').textContent})")
        finally:
            await browser.close()
    return {"viewer": "chromium", "frames": status["frames"], "points": status["points"], "path": status["path"],
            "hud_path": status["hudPath"], "first_frame_s": round(status["firstFrameMs"] / 1000, 3),
            "steps_ms": status["steps"], "points_channel": status["pointsChannel"], "fallback": status["fallback"],
            "notice": status["notice"], "first_path": first_path, "page_errors": errors}


async def page_state(page: Any) -> str:
    """The viewer's status and HUD, for a failure message."""
    try:
        return json.dumps(await page.evaluate(
            "({frames: window.pointStream?.framesDrawn, received: window.pointStream?.framesReceived,"
            " state: window.pointStream?.state, steps: window.pointStream?.connectTimings,"
            " hud: Object.fromEntries([...document.querySelectorAll('[data-field]')]"
            ".map((e) => [e.dataset.field, e.textContent]))})"))
    except Exception as exc:  # the page itself may be gone
        return f"unreadable ({exc})"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m natlab.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("viewer", choices=("python", "chromium"))
    parser.add_argument("url", help="viewer URL, e.g. http://198.18.0.10:8443/view/lab")
    parser.add_argument("--frames", type=int, default=5, help="frames to receive (default: 5)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default: 60)")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="Chromium: seconds to wait after the frames for a relayed path to become direct")
    args = parser.parse_args()
    try:
        if args.viewer == "python":
            result = asyncio.run(probe_python(args.url, args.frames, args.timeout))
        else:
            result = asyncio.run(probe_chromium(args.url, args.frames, args.timeout, args.settle))
    except Exception as exc:  # the caller wants a JSON line in every case
        print(json.dumps({"viewer": args.viewer, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
