"""What the streamer process holds in memory, for /stats: resident set, the C heap, the interpreter.

Resident memory alone cannot tell a leak from an allocator that keeps freed pages: glibc's
``mallinfo2`` says how much of its heap is in live allocations and how much it holds free, and
tracemalloc (with ``PYTHONTRACEMALLOC=1``) how much the interpreter's objects take.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import tracemalloc
from pathlib import Path

logger = logging.getLogger(__name__)


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (glibc 2.33 and later), every field a size_t."""

    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _load_mallinfo2() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        function = libc.mallinfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return None
    function.restype = _MallInfo2
    function.argtypes = []
    return function


_MALLINFO2 = _load_mallinfo2()


def resident_bytes() -> int | None:
    """This process's resident set (VmRSS), None where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_report() -> dict[str, int | None]:
    """Bytes: ``resident``; ``heapInUse`` (live C allocations, all arenas, mmapped blocks included) and
    ``heapFree`` (freed but kept by malloc), None without glibc; ``traced`` (the interpreter's
    objects), None unless tracemalloc is tracing."""
    report: dict[str, int | None] = {"resident": resident_bytes(), "heapInUse": None, "heapFree": None,
                                     "traced": tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None}
    if _MALLINFO2 is not None:
        info = _MALLINFO2()
        report["heapInUse"] = info.uordblks + info.hblkhd
        report["heapFree"] = info.fordblks
    return report
