"""The SFU as the streamer runs it (``server.py --sfu janus``): Janus started beside it with its own
configuration, the feed that sends it every frame once, and the API client viewers are set up through.
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from stream.broadcaster import FrameBroadcaster

from .feed import JanusFeed
from .janus import JanusOptions, JanusProcess
from .janus_api import Admin
from .tiers import TierPolicy

logger = logging.getLogger(__name__)

DATA_CHANNEL_LABEL = "JanusDataChannel"
"""The label Janus's Streaming plugin sends a mountpoint's data on; the viewer opens its channel under it."""


@dataclass(frozen=True)
class SfuSettings:
    janus: JanusOptions = field(default_factory=JanusOptions)
    policy: TierPolicy = field(default_factory=TierPolicy)
    workdir: Path | None = None
    """Where Janus's configuration folder is written (a temporary folder if None)."""


@dataclass
class Sfu:
    """A running Janus, its feed, and what a viewer's set-up needs."""

    settings: SfuSettings
    janus: JanusProcess
    feed: JanusFeed
    http: aiohttp.ClientSession
    admin: Admin

    @property
    def api_url(self) -> str:
        return self.janus.api_url

    def describe(self) -> dict[str, object]:
        return {"janus": self.janus.proc.pid, "tiers": [{"mountpoint": t.mountpoint, "share": t.share}
                                                         for t in self.settings.janus.tiers],
                "feed": vars(self.feed.stats)}


@asynccontextmanager
async def running_sfu(settings: SfuSettings, broadcaster: FrameBroadcaster) -> AsyncIterator[Sfu]:
    """Start Janus and the feed; stop both (and Janus's folder) on exit, also after an error."""
    with tempfile.TemporaryDirectory(prefix="pointstream-janus-") as tmp:
        workdir = settings.workdir or Path(tmp)
        janus = await asyncio.to_thread(JanusProcess, settings.janus, workdir)
        try:
            feed = JanusFeed(broadcaster, settings.janus.tiers, settings.janus.feed_ip)
            task = asyncio.create_task(feed.run())
            async with aiohttp.ClientSession() as http:
                try:
                    yield Sfu(settings, janus, feed, http, Admin(http, janus.admin_url, settings.janus.admin_secret))
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
        finally:
            await asyncio.to_thread(janus.stop)
