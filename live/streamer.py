"""Stream from your own program: ``Streamer(port=8080).start()``, then ``publish(points)`` from any thread.

The same server as ``server.py`` (the page, WebRTC and WebSocket viewers, link fitting, the HUD) runs on
a thread of its own with its own event loop; frames are encoded in a producer process, as always, so
publishing costs the program a copy of the array and nothing else. Newest frame wins: a program that
publishes faster than frames can be sent loses the older ones, never its latency.

    from live import Streamer

    with Streamer(port=8080, quantize=1.0) as streamer:
        print("open", streamer.url)
        while running:
            streamer.publish(points)        # N × 3 or N × 4 float32: x, y, z in metres, intensity 0..1
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from record.mcap_recorder import check_writable
from signaling.app import ServerConfig, init_app
from signaling.http_server import ConnectionLimits, serve
from signaling.ice import IceOptions
from stream.broadcaster import FrameBroadcaster
from stream.encoder import DEFAULT_QUANTIZE_MM, EncoderOptions
from viewers.settings import ViewerSettings

from .source import LiveSource

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 30.0


class Streamer:
    """A streamer fed by :meth:`publish`. ``start()`` (or ``with``) serves it; ``close()`` stops it.

    ``quantize``: millimetres (0: lossless float32), ``fps``: the rate viewers' senders pace for (frames go out
    as they are published), ``token``: required by the page and every endpoint when set, ``ice``: STUN/TURN
    (none by default: nothing outside is contacted), ``record``: a new .mcap file every frame is written to
    (record.mcap_recorder.RecordingError at once if it exists or cannot be written).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, quantize: float = DEFAULT_QUANTIZE_MM,
                 fps: float = 10.0, token: str | None = None, ice: IceOptions | None = None,
                 record: Path | None = None, description: str = "published by a program") -> None:
        if record is not None:
            check_writable(record)  # RecordingError now, not a failed producer process later
        self.host = host
        self.port = port
        self.source = LiveSource(description)
        self.broadcaster = FrameBroadcaster(self.source, EncoderOptions(quantize_mm=quantize), fps, loop=False,
                                            record=record)
        self.config = ServerConfig(ViewerSettings(self.broadcaster), ice or IceOptions(), token=token)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._listening = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> Streamer:
        """Serve on a background thread; returns once it listens. OSError if it cannot listen."""
        if self._thread is not None:
            raise RuntimeError("this streamer has been started already")
        self._thread = threading.Thread(target=self._run, name="streamer", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._listening.wait(0.05):
            if self._error is not None or not self._thread.is_alive():
                self._thread.join()
                raise self._error or RuntimeError("the streamer stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the streamer did not listen within {STARTUP_TIMEOUT:g} s")
        return self

    def publish(self, points: np.ndarray, timestamp: float | None = None, colours: np.ndarray | None = None) -> None:
        """Stream ``points`` (N × 3 or N × 4; x, y, z in metres, intensity 0..1) taken at ``timestamp`` (seconds,
        default now), with ``colours`` (N × 3, red, green, blue 0..255) if given: the viewer's "source colour".
        Any thread; returns at once. ValueError for arrays of another shape."""
        self.source.publish(points, time.time() if timestamp is None else timestamp, colours)

    def stats(self) -> dict[str, Any]:
        s = self.broadcaster.stats
        return {"published": self.source.published, "replaced": self.source.replaced,
                "framesEncoded": s.frames_encoded, "pointsEncoded": s.points_encoded}

    def close(self) -> None:
        """End the stream, close every viewer and stop serving (waits for it)."""
        self.source.end()
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Streamer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(), or logged when it happens later
            self._error = exc
            if self._listening.is_set():
                logger.exception("the streamer stopped")

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()

        def listening(port: int) -> None:
            self.port = port
            self._listening.set()
            logger.info("streaming at %s", self.url)

        try:
            await serve(init_app(self.config), self.host, self.port, None, ConnectionLimits(), listening)
        except asyncio.CancelledError:
            pass
