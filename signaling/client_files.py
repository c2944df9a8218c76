"""Routes for the browser client's files, shared by the single-host app and the rendezvous server."""
from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

logger = logging.getLogger(__name__)

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"


def page(path: Path) -> web.FileResponse:
    """An HTML page, revalidated on every load (a new client version shows up at once)."""
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


def add_client_routes(app: web.Application, client: Path = CLIENT_DIR) -> None:
    """``/src/`` (our modules), ``/vendor/three/`` and ``/build/`` (npm packages, scripts/setup.sh)."""
    app.router.add_static("/src/", client / "src")
    for optional, prefix in ((client / "node_modules" / "three", "/vendor/three/"), (client / "build", "/build/")):
        if optional.is_dir():
            app.router.add_static(prefix, optional)
        else:
            logger.warning("%s is missing: run scripts/setup.sh (npm ci) before opening the viewer", optional)
