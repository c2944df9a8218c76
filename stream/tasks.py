"""A set of background tasks with one owner: started, cancelled and awaited together, none forgotten."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class TaskSet:
    """The tasks one object started. Each leaves the set when it ends; an exception it ends with is
    logged here (asyncio would otherwise say only "Task exception was never retrieved", at exit)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("%s: background task %s failed", self.label, task.get_coro(), exc_info=exc)

    def cancel(self) -> None:
        """Cancel every task but the one calling (a task may cancel its siblings and go on)."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def close(self) -> None:
        """Cancel every task but the calling one and wait until they have ended."""
        self.cancel()
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        if others:
            await asyncio.gather(*others, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
