"""Emulated links between two network namespaces (a veth pair), for UDP and TCP alike.

Delay: every packet leaving either namespace on the veth goes through an NFQUEUE rule (iptables; this
kernel has neither ``sch_netem`` nor nftables' ``queue``) to ``bench.nfq_delay``, which holds it for
the one-way delay.
Loss: an nftables ``numgen random`` rule drops each arriving packet with the given probability
(in both directions). Rate: a ``tbf`` qdisc on each end. The namespaces are linked only to each
other; their addresses (10.201.0.0/30) exist nowhere else. Everything is removed on exit, also
after an error or Ctrl-C, and stale namespaces of dead runs are removed on start.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass

from lab.netns import delete, remove_stale, require_root, run
from lab.process import ROOT, stop_process
from lab.setup import BuiltOrClosed

logger = logging.getLogger(__name__)

PREFIX = "pcsb"
SERVER_ADDR = "10.201.0.1"
VIEWER_ADDR = "10.201.0.2"


@dataclass(frozen=True)
class LinkProfile:
    """One emulated link. Delay is one way (RTT = 2 × delay); loss applies in each direction."""

    name: str
    delay_ms: float = 0.0
    loss_pct: float = 0.0
    rate_mbit: float = 0.0
    """0 = unlimited."""

    def describe(self) -> str:
        parts = [f"RTT {2 * self.delay_ms:g} ms", f"loss {self.loss_pct:g} %"]
        parts.append(f"{self.rate_mbit:g} Mbit/s" if self.rate_mbit else "no rate limit")
        return f"{self.name} ({', '.join(parts)})"


PROFILES = {
    "lan": LinkProfile("lan", delay_ms=0.5, loss_pct=0.0, rate_mbit=1000),
    "wan": LinkProfile("wan", delay_ms=25.0, loss_pct=2.0, rate_mbit=200),
    "lossy": LinkProfile("lossy", delay_ms=10.0, loss_pct=5.0, rate_mbit=100),
    "slow": LinkProfile("slow", delay_ms=40.0, loss_pct=0.5, rate_mbit=20),
}


class NetLab(BuiltOrClosed):
    """``with NetLab(profile) as lab:`` run the streamer with ``lab.server_prefix``, viewers with
    ``lab.viewer_prefix``; connect to ``SERVER_ADDR``."""

    def __init__(self, profile: LinkProfile) -> None:
        self.profile = profile
        self.server_ns = f"{PREFIX}{os.getpid()}s"
        self.viewer_ns = f"{PREFIX}{os.getpid()}v"
        self._delayers: list[subprocess.Popen[str]] = []

    @property
    def server_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.server_ns]

    @property
    def viewer_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.viewer_ns]

    def _before_build(self) -> None:
        require_root("link profiles", {"ip": "iproute2", "nft": "nftables", "tc": "iproute2",
                                       "iptables": "iptables"}, "; run as root, or use --profile loopback")
        remove_stale(PREFIX)

    def _build(self) -> None:
        p = self.profile
        for ns in (self.server_ns, self.viewer_ns):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "link", "add", "veth0", "netns", self.server_ns, "type", "veth", "peer", "name", "veth0",
            "netns", self.viewer_ns)
        for ns, addr in ((self.server_ns, SERVER_ADDR), (self.viewer_ns, VIEWER_ADDR)):
            run("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", "veth0")
            run("ip", "-n", ns, "link", "set", "veth0", "up")
            # a default route, so that Chrome (which gathers on its default-route interface) finds veth0
            run("ip", "-n", ns, "route", "add", "default", "dev", "veth0")
            if p.rate_mbit:
                run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "veth0", "root", "tbf", "rate",
                    f"{p.rate_mbit:g}mbit", "burst", "256kb", "latency", "200ms")
            if p.loss_pct:
                # dropped on arrival, as a lossy link would: a drop on output would fail the sender's sendto
                rule = f'iifname "veth0" numgen random mod 100000 < {round(p.loss_pct * 1000)} drop'
                run("ip", "netns", "exec", ns, "nft", "-f", "-", stdin=(
                    "table inet pcsbench {\n  chain in {\n    type filter hook prerouting priority -300; "
                    f"policy accept;\n    {rule}\n  }}\n}}\n"))
            if p.delay_ms:
                # nftables' own `queue` statement needs CONFIG_NFT_QUEUE, which this kernel lacks; the xtables
                # NFQUEUE target (through iptables) is built in
                for family in ("iptables", "ip6tables"):
                    run("ip", "netns", "exec", ns, family, "-A", "OUTPUT", "-o", "veth0", "-j", "NFQUEUE",
                        "--queue-num", "0")
                self._start_delayer(ns)

    def set_rate(self, mbit: float) -> None:
        """Change the emulated link's rate (both directions), as a link would whose capacity changes."""
        if not self.profile.rate_mbit:
            raise RuntimeError("rate steps need a rate-limited link (--rate-mbit)")
        for ns in (self.server_ns, self.viewer_ns):
            run("ip", "netns", "exec", ns, "tc", "qdisc", "change", "dev", "veth0", "root", "tbf", "rate",
                f"{mbit:g}mbit", "burst", "256kb", "latency", "200ms")

    def _start_delayer(self, ns: str) -> None:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "bench.nfq_delay", "--queue", "0",
                                 "--delay-ms", str(self.profile.delay_ms)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self._delayers.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"delay emulator failed to start in {ns}: {line} {err.strip()}")

    def close(self) -> None:
        for proc in self._delayers:
            stop_process(proc, timeout=5)
        self._delayers.clear()
        delete([self.server_ns, self.viewer_ns])
