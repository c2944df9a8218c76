"""What a server has to tell one client, bounded: a client that does not read is cut off, not buffered for.

A WebSocket write waits while the client's TCP window and the transport's buffer are full. Writing
each control message from its own task (as before) queued one task per message without limit: a client
that sent pings and never read grew the server by about 110 MB/s (docs/security.md, finding 2). Here
one task writes, one message at a time, and what waits is bounded in bytes, in messages and in time;
past any bound ``on_stuck`` is called once and nothing more is queued.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxLimits:
    """How much may wait for one client before it counts as not reading."""

    max_chars: int = 256 * 1024
    """Characters of messages waiting to be written."""
    max_messages: int = 256
    """Messages waiting to be written."""
    max_wait: float = 15.0
    """Seconds one write may take, or a message may wait."""

    def __post_init__(self) -> None:
        if self.max_chars < 1 or self.max_messages < 1 or not self.max_wait > 0:
            raise ValueError(f"outbox limits must be positive, got {self}")


class Outbox:
    """Messages for one client, written in order by ``run()``."""

    def __init__(self, write: Callable[[str], Awaitable[None]], on_stuck: Callable[[str], None], label: str,
                 limits: OutboxLimits = OutboxLimits()) -> None:
        self.limits = limits
        self.label = label
        self.stuck: str | None = None
        """Why the client counts as not reading, once it does; nothing is queued after that."""
        self._write = write
        self._on_stuck = on_stuck
        self._queue: deque[tuple[float, str]] = deque()
        self._chars = 0
        self._ready = asyncio.Event()

    def put(self, text: str) -> bool:
        """Queue ``text``; False (and the client cut off) when that would pass a bound."""
        if self.stuck is not None:
            return False
        now = time.monotonic()
        if self._queue and now - self._queue[0][0] > self.limits.max_wait:
            self._give_up(f"a message has waited {now - self._queue[0][0]:.0f} s")
        elif len(self._queue) >= self.limits.max_messages or self._chars + len(text) > self.limits.max_chars:
            self._give_up(f"{len(self._queue)} messages ({self._chars} characters) wait")
        if self.stuck is not None:
            return False
        self._queue.append((now, text))
        self._chars += len(text)
        self._ready.set()
        return True

    @property
    def waiting(self) -> int:
        """Messages queued and not yet written."""
        return len(self._queue)

    async def run(self) -> None:
        """Write until cancelled or the client is cut off."""
        while self.stuck is None:
            await self._ready.wait()
            while self._queue and self.stuck is None:
                _, text = self._queue[0]
                try:
                    await asyncio.wait_for(self._write(text), self.limits.max_wait)
                except asyncio.TimeoutError:
                    self._give_up(f"one write took over {self.limits.max_wait:.0f} s")
                    return
                self._queue.popleft()
                self._chars -= len(text)
            self._ready.clear()

    def _give_up(self, why: str) -> None:
        self.stuck = why
        self._queue.clear()
        self._chars = 0
        logger.warning("%s: not reading (%s): disconnecting", self.label, why)
        self._on_stuck(why)
