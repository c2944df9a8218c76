"""A real coturn (Debian's ``turnserver``) with its own config file and pidfile, for the lab and the tests.

It uses REST-style time-limited credentials (``use-auth-secret``), the mode ``--turn-secret`` mints
for; it never reads /etc/turnserver.conf and never touches the system service's pidfile.
"""
from __future__ import annotations

import collections
import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path

from lab.process import stop_process

logger = logging.getLogger(__name__)

TURNSERVER = "turnserver"
REALM = "pointstream.test"


def coturn_config(listen_ip: str, port: int, secret: str, workdir: Path, allowed_peers: str,
                  denied_peers: tuple[str, ...] = (), relay_ports: tuple[int, int] = (49152, 49407)) -> str:
    """turnserver.conf for one instance: UDP and TCP on ``port``, no TLS, no CLI, REST credentials.

    ``denied_peers``: ranges the relay must never send to (a public TURN server should deny the private
    ranges, or it relays into its own network).
    """
    return "\n".join([*(f"denied-peer-ip={r}" for r in denied_peers),
        f"listening-ip={listen_ip}", f"relay-ip={listen_ip}", f"listening-port={port}",
        f"min-port={relay_ports[0]}", f"max-port={relay_ports[1]}",
        f"realm={REALM}", "use-auth-secret", f"static-auth-secret={secret}", "fingerprint",
        "no-tls", "no-dtls", "no-cli", "no-multicast-peers", f"allowed-peer-ip={allowed_peers}",
        f"pidfile={workdir / 'turnserver.pid'}", f"userdb={workdir / 'turndb'}", "log-file=stdout", "simple-log", "verbose",
    ]) + "\n"


class Coturn:
    """``with Coturn(listen_ip, port, secret, workdir, prefix=lab.prefix("pub")):`` a running turnserver."""

    def __init__(self, listen_ip: str, port: int, secret: str, workdir: Path, allowed_peers: str,
                 prefix: list[str] | None = None, startup_timeout: float = 15.0,
                 denied_peers: tuple[str, ...] = ()) -> None:
        if shutil.which(TURNSERVER) is None:
            raise RuntimeError("coturn is not installed (Debian package coturn; scripts/setup.sh installs it)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "turnserver.conf"
        self.config_path.write_text(coturn_config(listen_ip, port, secret, workdir, allowed_peers,
                                                         denied_peers))
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        self._ready = threading.Event()
        self.proc = subprocess.Popen([*(prefix or []), TURNSERVER, "-c", str(self.config_path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + startup_timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"turnserver did not start: {' | '.join(list(self.output)[-8:])}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())
            if "Total General servers" in line:
                self._ready.set()

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> Coturn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
