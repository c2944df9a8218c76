"""Network-namespace plumbing shared by the link emulation (bench/netem.py) and the NAT lab (natlab/).

Namespaces are named ``<prefix><pid>...`` after the process that made them, so that a later run can
delete those of runs that died without cleaning up.
"""
from __future__ import annotations

import os
import re
import subprocess
import time


def run(*cmd: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short command; RuntimeError with its error output when it fails (unless ``check`` is off)."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def require_root(what: str, tools: dict[str, str], hint: str = "") -> None:
    """PermissionError unless root, RuntimeError naming the first missing tool (``tools``: name → package)."""
    if os.geteuid() != 0:
        raise PermissionError(f"{what} need root (network namespaces, nftables){hint}")
    for tool, package in tools.items():
        if run("sh", "-c", f"command -v {tool}", check=False).returncode != 0:
            raise RuntimeError(f"{what} need '{tool}' (Debian: {package})")


def remove_stale(prefix: str) -> None:
    """Delete the namespaces named ``<prefix><pid>...`` whose process is gone."""
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        pid = re.match(r"\d+", name[len(prefix):]) if name.startswith(prefix) else None
        if pid is not None and not os.path.exists(f"/proc/{pid.group()}"):
            run("ip", "netns", "del", name, check=False)


def delete(names: list[str]) -> None:
    """Kill whatever still runs in these namespaces, then delete them."""
    for name in names:
        for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
            run("kill", "-9", pid, check=False)
        run("ip", "netns", "del", name, check=False)
    time.sleep(0.1)  # deleting a namespace is asynchronous for its devices: give the kernel a moment
