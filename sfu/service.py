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
    feed: JanusFeed | None
    """The single-host streamer's feed; None on a rendezvous server (its ingests feed Janus)."""
    http: aiohttp.ClientSession
    admin: Admin
    restarts: int = 0
    """Times Janus exited on its own and was started again."""

    @property
    def api_url(self) -> str:
        return self.janus.api_url

    def describe(self) -> dict[str, object]:
        return {"janus": self.janus.proc.pid, "restarts": self.restarts,
                "tiers": [{"mountpoint": t.mountpoint, "share": t.share} for t in self.settings.janus.tiers],
                "feed": vars(self.feed.stats) if self.feed else None}

    async def keep_janus_running(self, workdir: Path, interval: float = 1.0) -> None:
        """Start Janus again whenever it exits (a crash, a kill): the viewers it had lose their sessions and
        reconnect (the page does by itself), getting new tokens from the new Janus. Cancel to stop."""
        while True:
            await asyncio.sleep(interval)
            code = self.janus.proc.poll()
            if code is None:
                continue
            logger.error("Janus exited (code %s): starting it again; its viewers reconnect. Last output: %s",
                         code, " | ".join(list(self.janus.output)[-5:]))
            try:
                self.janus = await asyncio.to_thread(JanusProcess, self.settings.janus, workdir)
                self.restarts += 1
            except RuntimeError as exc:
                logger.error("Janus did not start again: %s (next try in %g s)", exc, 5 * interval)
                await asyncio.sleep(5 * interval)


@asynccontextmanager
async def running_sfu(settings: SfuSettings, broadcaster: FrameBroadcaster | None) -> AsyncIterator[Sfu]:
    """Start Janus and, for a streamer's ``broadcaster``, its feed; stop both (and Janus's folder) on exit,
    also after an error."""
    with tempfile.TemporaryDirectory(prefix="pointstream-janus-") as tmp:
        workdir = settings.workdir or Path(tmp)
        janus = await asyncio.to_thread(JanusProcess, settings.janus, workdir)
        sfu = None
        try:
            feed = JanusFeed(broadcaster, settings.janus.tiers, settings.janus.feed_ip) if broadcaster else None
            async with aiohttp.ClientSession() as http:
                sfu = Sfu(settings, janus, feed, http, Admin(http, janus.admin_url, settings.janus.admin_secret))
                tasks = [asyncio.create_task(sfu.keep_janus_running(workdir))]
                if feed is not None:
                    tasks.append(asyncio.create_task(feed.run()))
                try:
                    yield sfu
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await asyncio.to_thread((sfu.janus if sfu else janus).stop)
