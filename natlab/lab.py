"""A small internet on one machine: a public segment and two sites behind NAT routers (network namespaces).

    public 198.18.0.0/24 (bridge in ``pub``): pub 198.18.0.10 (signaling, coturn), natA 198.18.0.1, natB 198.18.0.2
    site A 10.1.0.0/24: natA 10.1.0.1 ── a 10.1.0.2 (the streamer)
    site B 10.2.0.0/24: natB 10.2.0.1 ── b 10.2.0.2 (the viewer)

Each NAT router masquerades its site behind its public address with nftables and drops anything
unsolicited from outside (a home router). Variants:

- ``cone``: plain masquerade, which keeps source ports: hole punching works, the path is direct.
- ``symmetric``: ``masquerade fully-random``: every destination gets a new random port, so the port a
  peer learns from STUN is useless to the other site; only a TURN relay connects them.
- ``tcp-only``: the routers forward nothing but TCP to the public host's signaling and TURN ports:
  the only way through is TURN over TCP.

Addresses exist only inside these namespaces, which have no link to the root namespace. Everything is
removed on exit, also after an error or Ctrl-C; namespaces of dead runs are removed on start.
"""
from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass

from lab.netns import delete, remove_stale, require_root, run
from lab.setup import BuiltOrClosed

logger = logging.getLogger(__name__)

PREFIX = "pcsn"
PUBLIC_HOST = "198.18.0.10"
PUBLIC_GATEWAY = "198.18.0.254"
PUBLIC_INTERFACE = "br0"
"""The public host's interface (a bridge to the NAT routers)."""
NAT_WAN = {"a": "198.18.0.1", "b": "198.18.0.2"}
SIGNALING_PORT = 8443
TURN_PORT = 3478
ROLES = ("pub", "nata", "a", "natb", "b")
_instances = itertools.count(1)


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    masquerade: str = "masquerade"
    tcp_only: bool = False


VARIANTS = {
    "cone": Variant("cone", "port-preserving NAT at both sites: direct path by hole punching"),
    "symmetric": Variant("symmetric", "port-randomising (symmetric) NAT at both sites: TURN relay needed",
                         masquerade="masquerade fully-random"),
    "tcp-only": Variant("tcp-only", "the sites may only open TCP to the public host (signaling, TURN): "
                                    "TURN over TCP needed", tcp_only=True),
}


def nat_rules(variant: Variant) -> str:
    """nftables ruleset of a site's NAT router: LAN ``lan``, public side ``wan``."""
    forward = ["ct state established,related accept"]
    if variant.tcp_only:
        forward += [f'iifname "lan" ip daddr {PUBLIC_HOST} tcp dport {{ {SIGNALING_PORT}, {TURN_PORT} }} accept',
                    'iifname "lan" drop']
    forward += ['iifname "wan" drop']
    return f"""table ip natlab {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" {variant.masquerade}
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    {chr(10).join('    ' + r for r in forward).strip()}
  }}
  chain input {{
    # unsolicited packets from outside are dropped before conntrack confirms them: such an entry would
    # otherwise claim the port a later outgoing hole-punching packet needs
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state new drop
  }}
}}
"""


class NatLab(BuiltOrClosed):
    """``with NatLab("cone") as lab:`` then ``[*lab.prefix("a"), ...]`` runs a command at site A."""

    def __init__(self, variant: str = "cone") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown NAT lab variant {variant!r} (one of {', '.join(VARIANTS)})")
        self.variant = VARIANTS[variant]
        self.tag = f"{PREFIX}{os.getpid()}-{next(_instances)}{variant[:3]}"
        self.namespaces = {role: f"{self.tag}-{role}" for role in ROLES}

    def prefix(self, role: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[role]]

    def _before_build(self) -> None:
        require_root("the NAT lab", {"ip": "iproute2", "nft": "nftables"})
        remove_stale(PREFIX)

    def _ip(self, role: str, *args: str) -> None:
        run("ip", "-n", self.namespaces[role], *args)

    def _build(self) -> None:
        ns = self.namespaces
        for role in ROLES:
            run("ip", "netns", "add", ns[role])
            self._ip(role, "link", "set", "lo", "up")
        self._ip("pub", "link", "add", PUBLIC_INTERFACE, "type", "bridge")
        self._ip("pub", "addr", "add", f"{PUBLIC_HOST}/24", "dev", PUBLIC_INTERFACE)
        self._ip("pub", "link", "set", PUBLIC_INTERFACE, "up")
        # like a host on the internet, the public host has a default route, so a packet to a private
        # address is lost somewhere instead of failing at once with ENETUNREACH (coturn closes an
        # allocation whose relay socket reports that). The gateway does not exist.
        self._ip("pub", "route", "add", "default", "via", PUBLIC_GATEWAY)
        for site, lan_net in (("a", "10.1.0"), ("b", "10.2.0")):
            nat = f"nat{site}"
            # public side: the router's wan ↔ a port of the public bridge
            self._ip(nat, "link", "add", "wan", "type", "veth", "peer", "name", f"port{site}", "netns", ns["pub"])
            self._ip("pub", "link", "set", f"port{site}", "master", "br0", "up")
            self._ip(nat, "addr", "add", f"{NAT_WAN[site]}/24", "dev", "wan")
            self._ip(nat, "link", "set", "wan", "up")
            # site side: the router's lan ↔ the host's eth0, which routes everything through the router
            self._ip(nat, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", ns[site])
            self._ip(nat, "addr", "add", f"{lan_net}.1/24", "dev", "lan")
            self._ip(nat, "link", "set", "lan", "up")
            self._ip(site, "addr", "add", f"{lan_net}.2/24", "dev", "eth0")
            self._ip(site, "link", "set", "eth0", "up")
            # a default route also makes Chrome gather on eth0 (it gathers on its default-route interface)
            self._ip(site, "route", "add", "default", "via", f"{lan_net}.1")
            run("ip", "netns", "exec", ns[nat], "sysctl", "-qw", "net.ipv4.ip_forward=1")
            run("ip", "netns", "exec", ns[nat], "nft", "-f", "-", stdin=nat_rules(self.variant))
        logger.info("NAT lab %s up: %s", self.variant.name, self.variant.description)

    def close(self) -> None:
        delete(list(self.namespaces.values()))
