"""Shared fixtures. In CI (CI=true) a missing prerequisite is a failure, never a silent skip."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.chromium import CHROMIUM  # noqa: E402
from lab.process import StreamerProcess  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI, when a test's prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


class ServerProcess(StreamerProcess):
    """``server.py`` run as a user would, on a free loopback port (or ``port``); stopped after the test."""

    def __init__(self, *args: str, port: int | None = None, **kwargs: Any) -> None:
        super().__init__(list(args), port=port, **kwargs)


@pytest.fixture
def server_process() -> Iterator[Callable[..., ServerProcess]]:
    """``start(*flags, port=None, **StreamerProcess options)``; every process started is stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, port: int | None = None, **kwargs: Any) -> ServerProcess:
        proc = ServerProcess(*args, port=port, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def chromium_path() -> str:
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
    require((ROOT / "client" / "node_modules" / "three").is_dir(), "client npm packages missing (scripts/setup.sh)")
    return CHROMIUM


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (openssl), for the HTTPS tests."""
    require(which("openssl") is not None, "openssl not installed (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def which(tool: str) -> str | None:
    return shutil.which(tool)
