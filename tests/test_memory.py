"""The streamer's memory report and release (viewers/memory.py), on this machine's glibc."""
from __future__ import annotations

import asyncio
import ctypes

from viewers import memory
from viewers.memory import memory_report, release_free_memory, release_soon

MiB = 1024 * 1024


def test_the_c_heap_report_follows_an_allocation() -> None:
    before = memory_report()["heapInUse"]
    block = ctypes.create_string_buffer(64 * MiB)  # malloc'd by ctypes, outside the interpreter's heap
    after = memory_report()["heapInUse"]
    del block
    # the rest of the process may free a little meanwhile (a CI run measured 64 MiB − 17 KB)
    assert before is not None and after is not None and 60 * MiB <= after - before < 70 * MiB


def test_memory_freed_between_live_blocks_goes_back_to_the_system() -> None:
    """What departed viewers leave: most of 80 MiB of small blocks freed, every 64th kept, so glibc
    cannot give the freed memory back from the top of its heap; without the release it stays resident."""
    blocks = [ctypes.create_string_buffer(2000) for _ in range(40_000)]
    kept = blocks[::64]
    del blocks
    report = memory_report()
    assert report["heapFree"] is not None and report["heapFree"] > 60 * MiB  # freed, but malloc keeps it
    before = report["resident"]
    assert release_free_memory()
    after = memory_report()["resident"]
    assert before is not None and after is not None
    assert before - after > 40 * MiB, (before // MiB, after // MiB)
    assert len(kept) == 625


async def test_viewers_leaving_together_are_released_once_after_the_delay(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[float] = []
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(memory, "release_free_memory", lambda: calls.append(loop.time()))
    monkeypatch.setattr(memory, "_pending", None)
    start = loop.time()
    for _ in range(5):
        release_soon(0.6)
    await asyncio.sleep(0.1)
    assert calls == []  # not while they are still leaving
    await asyncio.sleep(1.0)
    assert len(calls) == 1 and calls[0] - start >= 0.6
    release_soon(0.1)  # a later departure is released again
    await asyncio.sleep(0.5)
    assert len(calls) == 2
