"""The streamer under test, as a child process (optionally inside a network namespace), and its CPU time."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class StreamerProcess:
    """``server.py`` with the given flags, listening on ``host``; ``prefix`` runs it elsewhere (ip netns exec)."""

    def __init__(self, args: list[str], host: str = "127.0.0.1", prefix: list[str] | None = None,
                 startup_timeout: float = 30.0) -> None:
        self.port = free_port()
        self.host = host
        self.url = f"http://{host}:{self.port}/"
        cmd = [*(prefix or []), sys.executable, str(ROOT / "server.py"), "--host", host, "--port", str(self.port),
               *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"streamer exited with {self.proc.returncode}: {out.strip()[-2000:]}")
            try:
                self.stats()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"streamer did not answer on {self.url} within {startup_timeout:.0f} s")
                time.sleep(0.2)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "stats", timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
