"""A real Janus (Debian's ``janus``, 1.1.x) with a configuration of our own, started and stopped by us.

It never reads /etc/janus and is never the system service: the configuration folder is written fresh
for each instance, its plugin and transport folders hold only links to the Streaming plugin and the
HTTP transport, and everything it listens on is said here:

- the HTTP API and the admin API on loopback only (the signaling server talks to Janus for the viewers;
  viewers never do), the admin API behind a random secret;
- token authentication: every API request needs a token the signaling server added (per viewer);
- one Streaming mountpoint per tier, each relaying the UDP datagrams it receives on its own port (from
  the streamer, on ``feed_ip``) as binary data-channel messages;
- ICE on the interfaces or addresses in ``ice_enforce``, no STUN server unless given, TURN as given.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from lab.process import stop_process

logger = logging.getLogger(__name__)

JANUS = "janus"
LIBRARIES = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus", "/opt/janus/lib/janus")
"""Where Debian (per architecture) and source builds put Janus's plugins and transports."""
PLUGINS = ("libjanus_streaming.so",)
TRANSPORTS = ("libjanus_http.so",)
STREAMING = "janus.plugin.streaming"
MAX_DATAGRAM = 1500
"""Janus's Streaming plugin reads each datagram into a buffer of this many bytes and silently truncates a
longer one (janus_streaming_relay_thread, Janus 1.1.2): the streamer never sends one longer."""


@dataclass(frozen=True)
class Tier:
    """A mountpoint: viewers of this tier get ``share`` of each frame's chunks (a prefix of its send order)."""

    mountpoint: int
    share: float
    data_port: int


@dataclass(frozen=True)
class JanusOptions:
    """Where a Janus instance listens and what it offers."""

    api_port: int = 8088
    admin_port: int = 7088
    feed_ip: str = "127.0.0.1"
    """Address the mountpoints receive the streamer's datagrams on."""
    tiers: tuple[Tier, ...] = (Tier(1, 1.0, 5101), Tier(2, 0.5, 5102), Tier(3, 0.25, 5103))
    ice_enforce: str = ""
    """Comma-separated interfaces or addresses to gather ICE candidates on ('' = all)."""
    nat_1_1: str = ""
    """The public address to advertise instead of a private one (a host behind 1:1 NAT), if any."""
    stun: str = ""
    """host:port of a STUN server, if any (none by default: never a public one unless configured)."""
    turn: tuple[str, int, str, str] | None = None
    """(host, port, user, password) of a TURN server Janus relays through, if any."""
    rtp_ports: tuple[int, int] = (20000, 20999)
    admin_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))


def janus_config(options: JanusOptions, folder: Path) -> dict[str, str]:
    """The configuration files (name → text) of one instance whose folder is ``folder``."""
    nat = ['ice_ignore_list = "vmnet"', "full_trickle = false", "ignore_mdns = true"]
    if options.ice_enforce:
        nat.append(f'ice_enforce_list = "{options.ice_enforce}"')
    if options.nat_1_1:
        nat.append(f'nat_1_1_mapping = "{options.nat_1_1}"')
    if options.stun:
        host, _, port = options.stun.rpartition(":")
        nat += [f'stun_server = "{host}"', f"stun_port = {int(port)}"]
    if options.turn:
        host, port, user, password = options.turn
        nat += [f'turn_server = "{host}"', f"turn_port = {port}", 'turn_type = "udp"', f'turn_user = "{user}"',
                f'turn_pwd = "{password}"']
    general = [f'configs_folder = "{folder}"', f'plugins_folder = "{folder / "plugins"}"',
               f'transports_folder = "{folder / "transports"}"', f'events_folder = "{folder / "none"}"',
               f'loggers_folder = "{folder / "none"}"', "debug_level = 4", "token_auth = true",
               # every viewer's handle on one of a few shared event loops, not a loop (a thread) each: 15-25 %
               # less of Janus's CPU with 8 viewers (docs/benchmarks.md, fan-out)
               f"event_loops = {os.cpu_count() or 2}",
               f'admin_secret = "{options.admin_secret}"', "session_timeout = 60", 'server_name = "pointstream-sfu"']
    mountpoints = "\n".join(
        "\n\t".join([f"tier{t.mountpoint}: {{", 'type = "rtp"', f"id = {t.mountpoint}",
                      f'description = "points, {t.share:g} of each frame"', "audio = false", "video = false",
                      "data = true", f"dataport = {t.data_port}", f'dataiface = "{options.feed_ip}"',
                      'datatype = "binary"', "databuffermsg = false"]) + "\n}" for t in options.tiers)
    return {
        "janus.jcfg": "\n".join([
            "general: {", *("\t" + g for g in general), "}",
            "certificates: {\n}",
            f'media: {{\n\trtp_port_range = "{options.rtp_ports[0]}-{options.rtp_ports[1]}"\n\tipv6 = false\n}}',
            "nat: {", *("\t" + n for n in nat), "}",
            "plugins: {\n}", "transports: {\n}", "loggers: {\n}", "events: {\n}",
        ]) + "\n",
        "janus.transport.http.jcfg": "\n".join([
            "general: {", '\tjson = "plain"', '\tbase_path = "/janus"', "\thttp = true",
            f"\tport = {options.api_port}", '\tip = "127.0.0.1"', "\thttps = false", "}",
            "admin: {", '\tadmin_base_path = "/admin"', "\tadmin_http = true", f"\tadmin_port = {options.admin_port}",
            '\tadmin_ip = "127.0.0.1"', "\tadmin_https = false", "}",
            "cors: {\n}",
        ]) + "\n",
        "janus.plugin.streaming.jcfg": "general: {\n\tstring_ids = false\n}\n" + mountpoints + "\n",
    }


def janus_library() -> Path:
    """The folder holding Janus's ``plugins`` and ``transports`` (the Streaming plugin among them)."""
    for pattern in LIBRARIES:
        for folder in sorted(Path("/").glob(pattern.lstrip("/"))):
            if (folder / "plugins" / PLUGINS[0]).exists():
                return folder
    raise RuntimeError(f"Janus's Streaming plugin ({PLUGINS[0]}) is not in any of {', '.join(LIBRARIES)}")


class JanusProcess:
    """``with JanusProcess(options, workdir) as janus:`` a running Janus, in this process's network namespace;
    stopped on exit. Raises RuntimeError when Janus is not installed or does not answer its API within
    ``startup_timeout`` seconds.
    """

    def __init__(self, options: JanusOptions, workdir: Path, startup_timeout: float = 20.0) -> None:
        if shutil.which(JANUS) is None:
            raise RuntimeError("Janus is not installed (Debian package janus; scripts/setup.sh installs it)")
        self.options = options
        self.folder = workdir / "janus"
        if self.folder.exists():
            shutil.rmtree(self.folder)
        library = janus_library()
        for sub, names, source in (("plugins", PLUGINS, library / "plugins"),
                                   ("transports", TRANSPORTS, library / "transports")):
            (self.folder / sub).mkdir(parents=True)
            for name in names:
                (self.folder / sub / name).symlink_to(source / name)
        (self.folder / "none").mkdir()
        for name, text in janus_config(options, self.folder).items():
            (self.folder / name).write_text(text)
        self.output: collections.deque[str] = collections.deque(maxlen=300)
        self.proc = subprocess.Popen([JANUS, "-F", str(self.folder), "-C",
                                      str(self.folder / "janus.jcfg"), "--disable-colors"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Janus did not start: {' | '.join(list(self.output)[-10:])}")
            if self._answers():
                break
            time.sleep(0.2)
        logger.info("Janus %s up: API on 127.0.0.1:%d, tiers %s", self.proc.pid, options.api_port,
                    ", ".join(f"{t.mountpoint}={t.share:g}@{options.feed_ip}:{t.data_port}" for t in options.tiers))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.options.api_port}/janus"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.options.admin_port}/admin"

    def _answers(self) -> bool:
        """Whether the API answers ``info``."""
        request = json.dumps({"janus": "info", "transaction": "up"}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(self.api_url, request), timeout=1) as reply:
                return json.loads(reply.read()).get("janus") == "server_info"
        except (OSError, ValueError):
            return False

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> JanusProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
