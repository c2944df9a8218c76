"""Across real NATs: network namespaces, nftables masquerade, a real coturn, the real client.

The streamer publishes from site A through the rendezvous signaling server on the public host; viewers
at site B (behind another NAT) connect to it. Root, nft and coturn are required (in CI their absence
fails the test); Chromium for the browser tests.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from natlab.__main__ import run_probe
from natlab.lab import NatLab
from natlab.stack import LabStack, StackOptions
from tests.conftest import CHROMIUM, require, which


def require_lab() -> None:
    require(os.geteuid() == 0, "the NAT lab needs root")
    require(which("nft") is not None, "nftables not installed (apt-get install nftables)")
    require(which("turnserver") is not None, "coturn not installed (apt-get install coturn)")


def lab_stack(variant: str, tmp: Path, **options: Any) -> Iterator[tuple[NatLab, LabStack]]:
    require_lab()
    with NatLab(variant) as lab, LabStack(lab, tmp, StackOptions(**options)) as stack:
        yield lab, stack


@pytest.fixture(scope="module")
def cone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatLab, LabStack]]:
    yield from lab_stack("cone", tmp_path_factory.mktemp("cone"))


@pytest.fixture(scope="module")
def symmetric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatLab, LabStack]]:
    yield from lab_stack("symmetric", tmp_path_factory.mktemp("symmetric"))


@pytest.fixture(scope="module")
def tcp_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatLab, LabStack]]:
    yield from lab_stack("tcp-only", tmp_path_factory.mktemp("tcp"), turn_transport="tcp")


@pytest.fixture(scope="module")
def through_sfu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatLab, LabStack]]:
    require(which("janus") is not None, "Janus not installed (apt-get install janus)")
    yield from lab_stack("cone", tmp_path_factory.mktemp("sfu"), sfu=True)


def watch(lab_and_stack: tuple[NatLab, LabStack], viewer: str, min_points: int = 20_000,
          settle: float = 0.0) -> dict[str, Any]:
    lab, stack = lab_and_stack
    if viewer == "chromium":
        require(Path(CHROMIUM).exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
    result = run_probe(lab, viewer, stack.viewer_url, frames=5, settle=settle)
    assert "error" not in result, (result, {name: list(part.output)[-10:] for name, part in
                                            (("publisher", stack.publisher), ("signaling", stack.signaling)) if part})
    # the first frames' share of the 123k points: the sender starts at 10 Mbit/s and fits the relayed path
    assert result["frames"] >= 5 and result["points"] > min_points
    return result


def is_relayed(path: dict[str, Any]) -> bool:
    return "relay" in (path["local"], path["remote"])


def test_the_lab_is_sealed_from_the_root_namespace(cone: tuple[NatLab, LabStack]) -> None:
    """Its addresses exist only inside its namespaces: the root namespace has no route to them."""
    lab, _ = cone
    routes = subprocess.run(["ip", "route", "get", "198.18.0.10"], capture_output=True, text=True).stdout
    assert "br0" not in routes and "port" not in routes
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert all(ns not in links for ns in lab.namespaces.values())


def test_python_viewer_goes_direct_through_two_nats(cone: tuple[NatLab, LabStack]) -> None:
    result = watch(cone, "python")
    path = result["path"]
    assert not is_relayed(path), path
    # the viewer sees the streamer at NAT A's public address: hole punching, not a LAN shortcut
    assert path["remoteAddress"].startswith("198.18.0.1:"), path


def test_chromium_watches_through_two_nats_and_the_hud_shows_the_path(cone: tuple[NatLab, LabStack]) -> None:
    # Chromium may start on the relay (the first pair to work) and move to the punched-through pair once its
    # checks succeed: the direct path must come within seconds, and the HUD must say so
    result = watch(cone, "chromium", settle=10.0)
    assert not result["page_errors"], result["page_errors"]
    assert not is_relayed(result["path"]), (result["path"], result["first_path"])
    assert result["hud_path"].endswith("(direct)"), result["hud_path"]


def test_symmetric_nats_connect_through_the_turn_relay(symmetric: tuple[NatLab, LabStack]) -> None:
    path = watch(symmetric, "python")["path"]
    assert is_relayed(path), path
    if path["local"] == "relay":
        assert path["relayProtocol"] == "udp" and path["localAddress"].startswith("198.18.0.10:"), path


def test_chromium_through_symmetric_nats_is_relayed(symmetric: tuple[NatLab, LabStack]) -> None:
    result = watch(symmetric, "chromium")
    assert is_relayed(result["path"]), result["path"]
    assert "relay" in result["hud_path"] and "(direct)" not in result["hud_path"]


def test_turn_over_tcp_when_the_sites_may_not_send_udp(tcp_only: tuple[NatLab, LabStack]) -> None:
    path = watch(tcp_only, "python")["path"]
    assert path["local"] == "relay" and path["relayProtocol"] == "tcp", path


def test_chromium_over_turn_tcp(tcp_only: tuple[NatLab, LabStack]) -> None:
    result = watch(tcp_only, "chromium")
    assert result["path"]["local"] == "relay" and result["path"]["relayProtocol"] == "tcp", result["path"]
    assert result["hud_path"].startswith("relay (tcp)")


def test_relay_only_relays_even_where_a_direct_path_exists(tmp_path: Path) -> None:
    for lab_and_stack in lab_stack("cone", tmp_path, relay_only=True):
        path = watch(lab_and_stack, "python")["path"]
        assert path["local"] == "relay" and path["remote"] == "relay", path


def test_the_lab_leaves_nothing_behind_even_when_the_stack_fails(tmp_path: Path) -> None:
    require_lab()
    with pytest.raises(ValueError, match="TURN transport"):
        with NatLab("cone") as lab:
            names = list(lab.namespaces.values())
            with LabStack(lab, tmp_path, StackOptions(turn_transport="sctp")):
                pass
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed for name in names)


def test_chromium_watches_through_the_rendezvous_servers_janus(through_sfu: tuple[NatLab, LabStack]) -> None:
    """signal --sfu janus: the server takes the published stream in (one connection to the publisher behind
    NAT A) and Janus, beside it on the public host, sends it on to the page behind NAT B."""
    # a viewer starts on the quarter tier of what the publisher's fitted uplink sent: 4,779 points in one CI run
    result = watch(through_sfu, "chromium", min_points=1_000)
    assert result["points_channel"] == {"label": "JanusDataChannel", "ordered": False, "maxRetransmits": 0,
                                        "viaSfu": True}
    assert "via SFU" in result["hud_path"] and result["path"]["remoteAddress"].startswith("198.18.0.10:")
    lab, stack = through_sfu
    assert stack.signaling is not None
    assert any("taken in for the SFU" in line for line in stack.signaling.output)
