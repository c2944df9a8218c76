"""One machine's worth of network for the SFU tests: a namespace with a non-loopback address and no link
to anything outside it.

Janus offers no loopback candidates, so a viewer and Janus on one machine need another interface. The
namespace gets a veth pair whose both ends stay inside it (``eth0`` with ``ADDRESS``/24 and the default
route, its peer ``eth1`` up without an address): packets to ``ADDRESS`` stay in the namespace, and
there is no route out of it. Removed on exit, also after an error; namespaces of dead runs are removed on
start.
"""
from __future__ import annotations

import itertools
import os

from .netns import delete, remove_stale, require_root, run
from .setup import BuiltOrClosed

PREFIX = "pcsh"
ADDRESS = "10.77.0.1"
INTERFACE = "eth0"
_instances = itertools.count(1)


class SealedHost(BuiltOrClosed):
    """``with SealedHost() as host:`` then ``[*host.prefix, ...]`` runs a command inside it."""

    def __init__(self) -> None:
        self.name = f"{PREFIX}{os.getpid()}-{next(_instances)}"

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def _before_build(self) -> None:
        require_root("the sealed host", {"ip": "iproute2"})
        remove_stale(PREFIX)

    def _build(self) -> None:
        run("ip", "netns", "add", self.name)
        ip = ("ip", "-n", self.name)
        run(*ip, "link", "set", "lo", "up")
        run(*ip, "link", "add", INTERFACE, "type", "veth", "peer", "name", "eth1")
        run(*ip, "addr", "add", f"{ADDRESS}/24", "dev", INTERFACE)
        run(*ip, "link", "set", INTERFACE, "up")
        run(*ip, "link", "set", "eth1", "up")
        run(*ip, "route", "add", "default", "dev", INTERFACE)  # Chromium gathers on its default-route interface

    def close(self) -> None:
        delete([self.name])
