"""The streamer under test, as a child process (optionally inside a network namespace), and its CPU time."""
from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants that are still running."""
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


def descendant_named(pid: int, name: str) -> int | None:
    """The pid of a running descendant of ``pid`` whose command name is ``name``, if any."""
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            if p != pid and Path(f"/proc/{p}/comm").read_text().strip() == name:
                return p
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return None


class StreamerProcess:
    """``server.py`` with the given flags, listening on ``host``; ``prefix`` runs it elsewhere (ip netns exec).

    Ready when it prints its "Streaming. Open ..." line (``ready``); its output is kept (last lines) for
    errors. ``command`` is a server.py mode such as "signal"; ``listen=False`` for a publisher, which
    opens no port.
    """

    def __init__(self, args: list[str], host: str = "127.0.0.1", prefix: list[str] | None = None,
                 startup_timeout: float = 30.0, port: int | None = None, command: str | None = None,
                 ready: str = "Streaming. Open", listen: bool = True, scheme: str = "http") -> None:
        self.port = port or free_port()
        self.host = host
        self.url = f"{scheme}://{host}:{self.port}/"
        self.ready_prefix = ready
        where = ["--host", host, "--port", str(self.port)] if listen else []
        cmd = [*(prefix or []), sys.executable, str(ROOT / "server.py"), *([command] if command else []), *where,
               *args]
        self.output: collections.deque[str] = collections.deque(maxlen=50)
        self._ready = threading.Event()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + startup_timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise RuntimeError(f"server.py exited with {self.proc.returncode}: {' | '.join(self.output)}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server.py did not start within {startup_timeout:.0f} s: {' | '.join(self.output)}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())
            if line.startswith(self.ready_prefix):
                self._ready.set()

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)
