"""The viewer's tools in real Chromium, on a frame the test wrote, so every answer is known: picking and
measuring, decay, camera views, the colour map's range and legend, screenshot, settings that survive a reload
and travel in the address, the keyboard, and a phone-sized screen."""
from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page

from tests.conftest import ServerProcess
from tests.test_browser import browser, open_viewer, status, wait_frames  # noqa: F401 (fixture)

P1 = np.array([5.0, 2.0, -1.0])
P2 = np.array([0.0, 0.0, 0.0])
CAMERA = np.array([-1.0, -1.0, 3.0])  # looking at P1 from here puts P1 at the centre of the picture
BEHIND_P1 = P1 + 2.0 * (P1 - CAMERA) / np.linalg.norm(P1 - CAMERA)  # on the same pixel, farther: never picked
CAM_FRAGMENT = "cam=" + ",".join(f"{v:g}" for v in (*CAMERA, *P1))


def known_frame() -> np.ndarray:
    """P1, P2 and a point hidden behind P1 (intensity 0.9), and 3,000 points on a ring 8–20 m out with
    intensities spread evenly over 0.2–0.6, as x, y, z, intensity rows."""
    rng = np.random.default_rng(7)
    n = 3000
    radius = rng.uniform(8, 20, n)
    azimuth = rng.uniform(-math.pi, math.pi, n)
    ring = np.column_stack([radius * np.cos(azimuth), radius * np.sin(azimuth), np.full(n, -1.5),
                            np.linspace(0.2, 0.6, n)])
    marks = np.array([[*P1, 0.9], [*BEHIND_P1, 0.9], [*P2, 0.9]])
    return np.vstack([marks, ring]).astype(np.float32)


@pytest.fixture(scope="module")
def known_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The known frame, lossless (so picked coordinates are exact to float32), 5 frames/s, whole frames."""
    folder = tmp_path_factory.mktemp("known")
    for k in range(3):
        np.save(folder / f"{k}.npy", known_frame())
    server = ServerProcess("--source", str(folder), "--quantize", "0", "--fps", "5", "--fit", "off")
    try:
        yield server
    finally:
        server.stop()


def fragment(page: Page) -> dict[str, str]:
    """The settings in the page's address fragment (written a moment after each change)."""
    page.wait_for_timeout(500)
    text = page.evaluate("window.location.hash").lstrip("#")
    return dict(part.split("=", 1) for part in text.split("&") if part)


def click_centre(page: Page) -> None:
    size = page.viewport_size
    assert size
    page.mouse.click(size["width"] / 2, size["height"] / 2)


def ink(png: bytes) -> int:
    """Pixels of a picture that are neither background nor grey."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(((img.max(axis=2) - img.min(axis=2)) > 60).sum())


def test_picking_measures_between_two_known_points(browser: Browser, known_server: ServerProcess) -> None:  # noqa: F811
    page, errors = open_viewer(browser, f"{known_server.url}#{CAM_FRAGMENT}")
    wait_frames(page, 2)
    click_centre(page)  # the camera of the address looks at P1; the point behind it is as near on screen
    picked = status(page)["picked"]
    assert len(picked) == 1
    assert [picked[0][k] for k in "xyz"] == pytest.approx(list(P1), abs=1e-5)
    assert picked[0]["range"] == pytest.approx(float(np.linalg.norm(P1)), abs=1e-5)
    assert picked[0]["intensity"] == pytest.approx(0.9, abs=1e-6)
    assert not page.is_hidden("#pick") and "click a second point" in page.inner_text("#pick")
    page.keyboard.press("2")  # top-down, looking at the sensor: P2 is at the centre
    click_centre(page)
    s = status(page)
    assert [s["picked"][1][k] for k in "xyz"] == pytest.approx(list(P2), abs=1e-5)
    assert s["distance"] == pytest.approx(float(np.linalg.norm(P1 - P2)), abs=1e-4)
    assert f"A → B: {np.linalg.norm(P1 - P2):.3f} m" in page.inner_text("#pick")
    # a click on empty space picks nothing; a drag orbits and picks nothing; Esc forgets the points
    page.mouse.click(5, 700)
    size = page.viewport_size
    assert size
    page.mouse.move(size["width"] / 2, size["height"] / 2)
    page.mouse.down()
    page.mouse.move(size["width"] / 2 + 80, size["height"] / 2 + 10, steps=5)
    page.mouse.up()
    assert len(status(page)["picked"]) == 2
    page.keyboard.press("Escape")
    assert status(page)["picked"] == [] and page.is_hidden("#pick")
    assert not errors, errors


def test_views_decay_colour_range_screenshot_and_settings_survive_a_reload(
        browser: Browser, known_server: ServerProcess) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1200, "height": 750}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(known_server.url)
    wait_frames(page, 2)
    # the colour range fits the frame: the 2nd..98th percentiles of the ring's evenly spread intensities
    page.wait_for_function("window.pointStream.colourRange !== null")
    lo, hi = status(page)["colourRange"]
    assert lo == pytest.approx(0.2 + 0.4 * 0.02, abs=0.01) and hi == pytest.approx(0.2 + 0.4 * 0.98, abs=0.01)
    assert page.input_value("[data-legend=lo]") == f"{lo:.3f}" and not status(page)["colourRangeFixed"]
    # camera views: each puts the camera where it says, and the address carries it
    for key, where in (("2", "-0.01,0,90,0,0,0"), ("3", "-14,0,6,14,0,0"), ("0", "-28,-6,22,6,0,-1.7")):
        page.keyboard.press(key)
        assert fragment(page)["cam"] == where
    page.click("[data-view=orbit]")  # orbit: the camera turns by itself around the same target
    page.wait_for_timeout(300)
    before = status(page)["camera"]
    page.wait_for_timeout(1000)
    after = status(page)["camera"]
    assert after["target"] == before["target"] and after["position"] != before["position"]
    assert page.get_attribute("[data-view=orbit]", "aria-pressed") == "true"
    page.keyboard.press("0")
    page.wait_for_timeout(300)
    assert status(page)["camera"]["position"] == [-28, -6, 22]
    # decay keeps the frames of the last second: at 5 frames/s, 4 or 5 behind the newest
    page.select_option("#decay", "1")
    page.wait_for_function("window.pointStream.trailFrames >= 4", timeout=20_000)
    assert status(page)["trailFrames"] <= 5
    page.select_option("#decay", "0")
    page.wait_for_function("window.pointStream.trailFrames === 0", timeout=10_000)
    # fix the colour range by hand, in another mode and size
    page.select_option("#color-mode", "height")
    for end, value in (("lo", "-2"), ("hi", "1")):  # a value typed in fixes the range
        page.fill(f"[data-legend={end}]", value)
        page.press(f"[data-legend={end}]", "Enter")
    assert status(page)["colourRange"] == [-2, 1] and status(page)["colourRangeFixed"]
    assert page.is_checked("[data-legend=fixed]")
    page.fill("[data-legend=hi]", "-5")  # below the low end: refused, shown as such
    page.press("[data-legend=hi]", "Enter")
    assert status(page)["colourRange"] == [-2, 1] and page.get_attribute("#legend", "data-invalid") == "true"
    page.keyboard.press("]")  # typed into the field: not a shortcut
    assert page.input_value("#point-size") == "2"
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("]")  # size 2 → 2.5
    shared = fragment(page)
    assert shared["colour"] == "height" and shared["range"] == "-2,1" and shared["size"] == "2.5"
    # screenshot: a PNG of the points
    with page.expect_download() as download:
        page.keyboard.press("s")
    png = Path(download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and download.value.suggested_filename.endswith(".png")
    assert ink(png) > 2_000
    # a reload keeps everything (local storage and the address)
    page.reload()
    wait_frames(page, 1)
    s = status(page)
    assert page.input_value("#color-mode") == "height" and page.input_value("#point-size") == "2.5"
    assert s["colourRange"] == [-2, 1] and s["colourRangeFixed"]
    # a shared address wins over what this browser stored; a bad value is ignored and said so
    page.goto("about:blank")  # (else a new fragment alone is a jump within the page, not a load)
    page.goto(f"{known_server.url}#colour=range&size=9&{CAM_FRAGMENT}")
    wait_frames(page, 1)
    assert page.input_value("#color-mode") == "range" and page.input_value("#point-size") == "2.5"
    assert "ignored in the address: size=9" in page.inner_text("[data-field=notice]")
    assert not status(page)["colourRangeFixed"]  # the stored range was of heights, this view shows ranges
    page.keyboard.press("?")
    assert page.is_visible("#help") and "top-down" in page.inner_text("#help")
    page.keyboard.press("Escape")
    assert page.is_hidden("#help")
    page.click("#fullscreen")
    page.wait_for_function("document.fullscreenElement !== null", timeout=5_000)
    # the button says so once the page has heard of the change (fullscreenchange)
    page.wait_for_function("document.querySelector('#fullscreen').getAttribute('aria-pressed') === 'true'",
                           timeout=5_000)
    page.keyboard.press("f")
    page.wait_for_function("document.fullscreenElement === null", timeout=5_000)
    context.close()
    assert not errors, errors


def overflow(page: Page) -> dict[str, Any]:
    return page.evaluate("""() => {
        const w = document.documentElement.clientWidth;
        const panels = [...document.querySelectorAll('.panel')].filter((e) => e.offsetParent !== null);
        const boxes = panels.map((e) => [e.id, e.getBoundingClientRect()]);
        const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
        return {width: w, scrollWidth: document.documentElement.scrollWidth,
                outside: boxes.filter(([, r]) => r.left < 0 || r.right > w).map(([id]) => id),
                overlapping: boxes.flatMap(([a, ra], i) => boxes.slice(i + 1).filter(([, rb]) => overlap(ra, rb))
                                                                  .map(([b]) => `${a}/${b}`))};
    }""")


def test_a_phone_sized_screen_fits_and_taps_pick(browser: Browser, known_server: ServerProcess) -> None:  # noqa: F811
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
                                has_touch=True)
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{known_server.url}#{CAM_FRAGMENT}")
    wait_frames(page, 2)
    assert page.get_attribute("#hud", "data-folded") == "true"  # a first visit on a phone: the HUD folded
    o = overflow(page)
    assert o["scrollWidth"] <= 390 and not o["outside"] and not o["overlapping"], o
    page.tap("#hud-fold")
    assert page.get_attribute("#hud", "data-folded") == "false"
    o = overflow(page)
    assert o["scrollWidth"] <= 390 and not o["outside"], o
    page.tap("#hud-fold")
    # one finger drags: the camera orbits (touch events as the phone sends them, through Chromium's input)
    before = status(page)["camera"]
    cdp = phone.new_cdp_session(page)
    for kind, x in (("touchStart", 150), ("touchMove", 190), ("touchMove", 230), ("touchEnd", 230)):
        points = [] if kind == "touchEnd" else [{"x": x, "y": 500}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})
    page.wait_for_timeout(400)  # the HUD's refresh (250 ms) copies the camera into the status
    after = status(page)["camera"]
    assert after["position"] != before["position"] and after["target"] == before["target"]
    assert status(page)["picked"] == []  # a drag is not a tap
    page.goto("about:blank")  # the drag moved the camera off P1: load the address's view again
    page.goto(f"{known_server.url}#{CAM_FRAGMENT}")
    wait_frames(page, 1)
    page.touchscreen.tap(195, 422)  # the middle of the picture: P1
    picked = status(page)["picked"]
    assert len(picked) == 1 and [picked[0][k] for k in "xyz"] == pytest.approx(list(P1), abs=1e-5)
    phone.close()
    assert not errors, errors

