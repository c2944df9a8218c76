"""Real headless Chromium runs the real client against server.py: frames drawn, pixels lit, HUD live."""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright  # a missing Playwright fails, never skips

from lab.chromium import CHROMIUM_ARGS
from tests.conftest import ROOT, ServerProcess, self_signed
from tests.sdp_fuzz import CHROMIUM_OFFERS, mutate, sanitize

SCREENSHOT = ROOT / "docs" / "screenshot.png"
BACKGROUND = np.array([11, 13, 18])


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def open_viewer(browser: Browser, url: str) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 1200, "height": 750})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


def status(page: Page) -> dict[str, Any]:
    return page.evaluate("window.pointStream")  # type: ignore[no-any-return]


def wait_frames(page: Page, count: int, timeout: float = 90.0) -> dict[str, Any]:
    page.wait_for_function(f"window.pointStream && window.pointStream.framesDrawn >= {count}",
                           timeout=timeout * 1000)
    return status(page)


def server_stats(url: str, collect: bool = False) -> dict[str, Any]:
    """The streamer's /stats; ``collect``: after a garbage collection, so that only live objects count."""
    with urllib.request.urlopen(url + ("stats?gc=1" if collect else "stats"), timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def point_pixels(png: Path) -> int:
    """Pixels that are neither background nor grey grid lines, outside the HUD panel."""
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    img = img.copy()
    img[:260, :420] = BACKGROUND  # the HUD
    chroma = img.max(axis=2) - img.min(axis=2)
    return int((chroma > 60).sum())


GRID_COLOURS = [(0x2A, 0x3A, 0x55), (0x1D, 0x26, 0x36)]
"""The polar ground grid's line colours (client/src/scene.js; the square grid's greys are the panels' too)."""


def grid_pixels(png: Path) -> int:
    """Pixels in the polar ground grid's colours."""
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int(sum((img == colour).all(axis=2).sum() for colour in GRID_COLOURS))


def test_chromium_draws_the_stream_and_the_hud_is_live(browser: Browser, server_process: Any,
                                                       tmp_path: Path) -> None:
    server: ServerProcess = server_process()
    page, errors = open_viewer(browser, server.url)
    s = wait_frames(page, 20)
    assert s["state"] == "open"
    assert s["lastDrawnPoints"] > 1_000  # a share of the frame's 123k points: the sender fits the link
    assert s["link"]["chunksReceived"] > 0 and s["link"]["badChunks"] == 0
    page.wait_for_function("Number(document.querySelector('[data-field=fps]').textContent) > 0", timeout=10_000)
    hud = {name: page.inner_text(f"[data-field={name}]")
           for name in ("state", "fps", "drawn", "latency", "mbps", "points", "loss", "bad", "fit")}
    assert hud["state"] == "open" and float(hud["fps"]) > 0 and float(hud["drawn"]) > 0 and float(hud["mbps"]) > 0
    assert hud["loss"].endswith(" %") and hud["bad"] == "0"
    points, share = hud["points"].split(" (")
    assert hud["latency"].endswith(" ms") and int(points.replace(",", "")) > 1_000 and share.endswith(" %)")
    assert hud["fit"].endswith("% of the frame") and " Mbit/s · " in hud["fit"]
    page.wait_for_function("document.querySelector('[data-field=decode]').textContent.endsWith(' ms')", timeout=10_000)
    shot = tmp_path / "viewer.png"
    page.screenshot(path=str(shot))
    lit = point_pixels(shot)
    # a share of the frame (the sender fits the link and this software-rendering viewer): still a picture
    assert lit > 5_000, f"only {lit} point-coloured pixels"
    assert grid_pixels(shot) > 1_000  # the ground grids, added once the first frame was drawn
    if os.environ.get("UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(shot.read_bytes())
    # the viewer reported its stats to the server over the control channel
    viewers = server_stats(server.url)["viewers"]
    assert len(viewers) == 1 and viewers[0]["viewer"].get("framesDrawn", 0) > 0
    assert viewers[0]["sender"]["rateEstimateMbit"] > 0 and viewers[0]["sender"]["pointsSent"] > 0
    # the page opened its point channel unordered, without retransmissions
    assert viewers[0]["pointsChannel"] == {"ordered": False, "maxRetransmits": 0, "maxPacketLifeTime": None}
    assert not errors, errors


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def frames_pass(server: ServerProcess, count: int) -> None:
    """Wait until the streamer has encoded ``count`` more frames (synchronise on the stream, not a clock)."""
    encoded = server_stats(server.url)["broadcast"]["framesEncoded"]
    wait_until(lambda: server_stats(server.url)["broadcast"]["framesEncoded"] >= encoded + count)


def picture_in(page: Page, mode: str, folder: Path) -> np.ndarray:
    """The page drawn in colour ``mode`` (once it has rendered with it), as an H × W × 3 int array."""
    renders = status(page)["renders"]
    page.select_option("#color-mode", mode)
    page.wait_for_function(f"window.pointStream.colorMode === '{mode}' && window.pointStream.renders > {renders}",
                           timeout=10_000)
    path = folder / f"{mode}.png"
    page.screenshot(path=str(path))
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_colour_modes_change_the_picture(browser: Browser, server_process: Any, tmp_path: Path) -> None:
    # whole frames (--fit off): the picture compared is a full frame, whatever this software renderer keeps up with
    server: ServerProcess = server_process("--fps", "5", "--quantize", "5", "--fit", "off")
    page, _ = open_viewer(browser, server.url)
    wait_frames(page, 3)
    page.click("#pause")  # hold the picture still: the server stops sending, the last frame stays drawn
    wait_until(lambda: server_stats(server.url)["viewers"][0]["paused"])
    frames_pass(server, 2)  # a frame in flight when the pause arrived has landed
    drawn = status(page)["framesDrawn"]
    frames_pass(server, 2)
    assert status(page)["framesDrawn"] == drawn
    shots = {mode: picture_in(page, mode, tmp_path) for mode in ("intensity", "height", "range")}
    assert status(page)["framesDrawn"] == drawn  # the same frame in all three pictures
    assert np.abs(shots["intensity"] - shots["height"]).mean() > 1
    assert np.abs(shots["height"] - shots["range"]).mean() > 1


def test_source_colours_are_drawn_in_source_colour_mode(browser: Browser, server_process: Any, tmp_path: Path) -> None:
    """A source with colours (PLY red/green/blue here): "source colour" draws them; intensity does not. Magenta
    is a colour no colour map of the viewer produces, so its pixels can only come from the source."""
    from plyfile import PlyData, PlyElement

    from data.synthetic import SyntheticOptions, SyntheticSource

    scans = tmp_path / "scans"
    scans.mkdir()
    source = SyntheticSource(SyntheticOptions(azimuth_steps=500))
    for k in range(3):
        points = source.frame(k).points
        vertex = np.empty(len(points), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4"),
                                              ("red", "u1"), ("green", "u1"), ("blue", "u1")])
        for i, name in enumerate(("x", "y", "z", "intensity")):
            vertex[name] = points[:, i]
        vertex["red"], vertex["green"], vertex["blue"] = 255, 0, 255
        PlyData([PlyElement.describe(vertex, "vertex")]).write(str(scans / f"{k}.ply"))
    server: ServerProcess = server_process("--source", str(scans), "--fps", "5", "--quantize", "5", "--fit", "off")
    page, _ = open_viewer(browser, server.url)
    wait_frames(page, 2)
    page.click("#pause")
    wait_until(lambda: server_stats(server.url)["viewers"][0]["paused"])
    frames_pass(server, 2)
    magenta = {}
    for mode in ("source", "intensity"):
        rgb = picture_in(page, mode, tmp_path)
        magenta[mode] = int(((rgb[..., 0] > 150) & (rgb[..., 2] > 150) & (rgb[..., 1] < 80)).sum())
    assert magenta["source"] > 500 and magenta["intensity"] < 50, magenta


def test_two_tabs_receive_and_each_frame_is_encoded_once(browser: Browser, server_process: Any) -> None:
    fps = 5.0
    server: ServerProcess = server_process("--fps", str(fps))
    a, _ = open_viewer(browser, server.url)
    b, _ = open_viewer(browser, server.url)
    wait_frames(a, 3)
    wait_frames(b, 3)
    before, t0 = server_stats(server.url), time.monotonic()
    drawn_a, drawn_b = status(a)["framesDrawn"], status(b)["framesDrawn"]
    wait_frames(a, drawn_a + 5)
    wait_frames(b, drawn_b + 5)
    after, elapsed = server_stats(server.url), time.monotonic() - t0
    encoded = after["broadcast"]["framesEncoded"] - before["broadcast"]["framesEncoded"]
    assert len(after["viewers"]) == 2
    assert all(v["sender"]["framesSent"] > 0 for v in after["viewers"])
    assert encoded <= elapsed * fps + 2, (encoded, elapsed)  # not once per tab


def test_viewer_reconnects_after_the_server_restarts(browser: Browser, server_process: Any) -> None:
    first: ServerProcess = server_process("--fps", "5", "--quantize", "5")
    page, _ = open_viewer(browser, first.url)
    drawn = wait_frames(page, 3)["framesDrawn"]
    first.stop()
    page.wait_for_function("window.pointStream.state !== 'open'", timeout=30_000)
    second: ServerProcess = server_process("--fps", "5", "--quantize", "5", port=first.port)
    s = wait_frames(page, drawn + 5, timeout=60)
    assert s["state"] == "open"
    assert len(server_stats(second.url)["viewers"]) == 1


def test_websocket_and_reliable_viewer_options(browser: Browser, server_process: Any) -> None:
    server: ServerProcess = server_process("--fps", "5", "--quantize", "5")
    ws, _ = open_viewer(browser, server.url + "?transport=websocket")
    reliable, _ = open_viewer(browser, server.url + "?reliable=1")
    wait_frames(ws, 3)
    wait_frames(reliable, 3)
    viewers = {v["transport"]: v for v in server_stats(server.url)["viewers"]}
    assert set(viewers) == {"websocket", "webrtc"}
    # ?reliable=1: ordered and reliable (mutation: without {ordered: true} in connection.js this fails)
    assert viewers["webrtc"]["pointsChannel"] == {"ordered": True, "maxRetransmits": None, "maxPacketLifeTime": None}
    assert all(v["sender"]["framesSent"] > 0 for v in viewers.values())
    samples = status(ws)["samples"]
    # [id, drawn at, latency ms, points %, complete, clock error ms]: a latency can read low by at most the
    # error of the clock estimate (half the best ping's round trip; null before the first: the same clock)
    assert samples and all(s[2] > -(s[5] or 0) and 0 < s[3] <= 100 for s in samples), samples
    # the page reports what it drew on the control channel
    server_side = {v["transport"]: v["viewer"] for v in server_stats(server.url)["viewers"]}
    assert "frames" in server_side["websocket"] and server_side["websocket"]["framesDrawn"] > 0


def test_a_closed_tab_is_released_at_once_and_a_hidden_one_is_kept(browser: Browser, server_process: Any) -> None:
    server: ServerProcess = server_process("--fps", "5", "--quantize", "5", "--viewer-timeout", "4")
    kept, _ = open_viewer(browser, server.url)
    gone, _ = open_viewer(browser, server.url)
    wait_frames(kept, 2)
    wait_frames(gone, 2)
    assert len(server_stats(server.url)["viewers"]) == 2
    gone.close()
    deadline = time.monotonic() + 10
    while len(server_stats(server.url)["viewers"]) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(server_stats(server.url)["viewers"]) == 1
    # a tab that stays open keeps talking (its stats answer the server's), well past --viewer-timeout
    time.sleep(6)
    (viewer,) = server_stats(server.url)["viewers"]
    assert viewer["state"] == "connected" and viewer["viewer"]["framesDrawn"] > 0


def test_https_with_a_token_the_page_works_and_the_token_leaves_the_address_bar(
        chromium_path: str, server_process: Any, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    token = "s3cret-viewing-token"
    server: ServerProcess = server_process("--fps", "5", "--quantize", "5", "--cert", str(cert), "--key", str(key),
                                           "--token", token, scheme="https")
    assert server.url.startswith("https://")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            context = b.new_context(ignore_https_errors=True)
            refused = context.new_page()
            response = refused.goto(server.url)
            assert response is not None and response.status == 401
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}?token={token}")
            s = wait_frames(page, 3)
            assert s["state"] == "open" and not errors
            assert "token" not in page.url  # removed from the address bar...
            page.reload()  # ...and the cookie carries it from now on
            wait_frames(page, 2)
            # and the HUD names the path: on loopback, a direct one
            page.wait_for_function("document.querySelector('[data-field=path]').textContent.endsWith('(direct)')",
                                   timeout=10_000)
        finally:
            b.close()


AV_OFFER = """async () => {
  const pc = new RTCPeerConnection({iceServers: []});
  pc.addTransceiver('audio');
  pc.addTransceiver('video');
  pc.createDataChannel('control');
  pc.createDataChannel('points', {ordered: false, maxRetransmits: 0});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') done(); };
    setTimeout(done, 3000);
  });
  return pc.localDescription.sdp;
}"""


def capture_offers(browser: Browser, url: str) -> dict[str, str]:
    """The offer the real client posts (caught on its way to /offer), and one of this Chromium with an audio
    and a video transceiver beside the data channels."""
    page = browser.new_page()
    posted: list[str] = []

    def catch(route: Any) -> None:
        posted.append(json.loads(route.request.post_data)["sdp"])
        route.abort()

    page.route("**/offer", catch)
    page.goto(url)
    page.wait_for_function("window.pointStream && window.pointStream.state === 'reconnecting'", timeout=20_000)
    offers = {"chromium-client": posted[0], "chromium-av": page.evaluate(AV_OFFER)}
    page.close()
    return offers


def post_offer(url: str, sdp: str) -> tuple[int, Any]:
    req = urllib.request.Request(url + "offer", data=json.dumps({"type": "offer", "sdp": sdp}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_this_chromiums_offers_mutated_leave_nothing_behind(browser: Browser, server_process: Any) -> None:
    """The offers of the Chromium installed now, mutated as tests/test_offer_fuzz.py does with the committed
    ones (UPDATE_FIXTURES=1 writes these as the committed ones): the streamer answers or refuses each with
    JSON, keeps no viewer, peer connection or task of them, and a page then streams."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    server: ServerProcess = server_process("--fps", "5", "--quantize", "5", "--connect-timeout", "1",
                                           "--max-offers-per-minute", "0", "--max-viewers", "0")
    offers = capture_offers(browser, server.url)
    assert all("m=application" in sdp and "a=fingerprint:sha-256" in sdp for sdp in offers.values()), offers
    if os.environ.get("UPDATE_FIXTURES"):
        CHROMIUM_OFFERS.write_text(json.dumps(offers, indent=1) + "\n")
    tasks_before = server_stats(server.url)["tasks"]
    statuses: dict[int, int] = {}

    @settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data(), name=st.sampled_from(sorted(offers)))
    def one(data: st.DataObject, name: str) -> None:
        what, sdp = data.draw(mutate(sanitize(offers[name])))
        status, body = post_offer(server.url, sdp)
        assert status == 200 or 400 <= status < 500, (name, what, status, body)
        assert status == 200 or isinstance(body.get("error"), str)
        statuses[status] = statuses.get(status, 0) + 1

    one()
    assert statuses.get(200) and statuses.get(400), statuses
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stats = server_stats(server.url, collect=True)
        if not stats["viewers"] and not stats["peerConnections"] and stats["tasks"] <= tasks_before:
            break
        time.sleep(0.5)
    assert not stats["viewers"] and not stats["peerConnections"] and stats["tasks"] <= tasks_before, stats
    page, errors = open_viewer(browser, server.url)
    wait_frames(page, 2)
    assert not errors
