"""Routes for the browser client's files, shared by the single-host app and the rendezvous server."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from .guard import json_error

logger = logging.getLogger(__name__)

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"


def page(path: Path) -> web.FileResponse:
    """An HTML page, revalidated on every load (a new client version shows up at once)."""
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


def static_files(root: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Files under ``root`` (conditional requests and ranges by FileResponse); anything else is a JSON
    404, like every other error of these servers, and nothing outside ``root`` is reachable."""
    base = root.resolve()

    async def handler(request: web.Request) -> web.StreamResponse:
        wanted = request.match_info["path"]
        try:
            path = (base / wanted).resolve()
            path.relative_to(base)
            found = path.is_file()
        except (ValueError, OSError):
            found = False
        if not found:
            return json_error(404, f"no such path: {request.path}")
        return web.FileResponse(path)

    return handler


def add_client_routes(app: web.Application, client: Path = CLIENT_DIR) -> None:
    """``/src/`` (our modules), ``/vendor/three/`` and ``/build/`` (npm packages, scripts/setup.sh)."""
    app.router.add_get("/src/{path:.+}", static_files(client / "src"))
    for optional, prefix in ((client / "node_modules" / "three", "/vendor/three/"), (client / "build", "/build/")):
        if optional.is_dir():
            app.router.add_get(prefix + "{path:.+}", static_files(optional))
        else:
            logger.warning("%s is missing: run scripts/setup.sh (npm ci) before opening the viewer", optional)
