"""Debian's Chromium as the tests, the benchmark and the NAT lab launch it."""
from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
"""Debian's package; Playwright drives it (``executable_path``), never a browser it downloads."""
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
"""Headless, as root, without a GPU (SwiftShader draws WebGL), and never reaching out to the network on
its own. Chrome honours only the last ``--disable-features`` switch and Playwright adds its own: merge
any into one."""
