"""Routes for the browser client's files, shared by the single-host app and the rendezvous server."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from .guard import json_error

logger = logging.getLogger(__name__)

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"
ASSET_CACHE = "public, max-age=31536000, immutable"
"""For the built bundles: their names change with their content (client/build.mjs), so a name is never stale."""


def page(client: Path, name: str) -> web.StreamResponse:
    """A built page of the client (``client/dist/NAME``), revalidated on every load (a new client version shows
    up at once); a JSON 503 when the client has not been built."""
    path = client / "dist" / name
    if not path.is_file():
        return json_error(503, f"the viewer is not built ({path} is missing): run scripts/setup.sh")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


def static_files(root: Path, cache: str | None = None) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Files under ``root`` (conditional requests, ranges, and the precompressed ``.br``/``.gz`` beside a file
    for clients that accept them, all by FileResponse), with ``cache`` as their Cache-Control; anything else
    is a JSON 404, like every other error of these servers, and nothing outside ``root`` is reachable."""
    base = root.resolve()
    headers = {"Cache-Control": cache} if cache else None

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
        return web.FileResponse(path, headers=headers)

    return handler


def add_client_routes(app: web.Application, client: Path = CLIENT_DIR) -> None:
    """``/assets/`` (the built bundles the pages load, client/build.mjs), and for development and the source
    maps ``/src/`` (our modules), ``/vendor/three/`` and ``/build/`` (npm packages, scripts/setup.sh)."""
    app.router.add_get("/assets/{path:.+}", static_files(client / "dist" / "assets", ASSET_CACHE))
    app.router.add_get("/src/{path:.+}", static_files(client / "src"))
    for optional, prefix in ((client / "node_modules" / "three", "/vendor/three/"), (client / "build", "/build/")):
        if optional.is_dir():
            app.router.add_get(prefix + "{path:.+}", static_files(optional))
        else:
            logger.warning("%s is missing: run scripts/setup.sh (npm ci) before opening the viewer", optional)
