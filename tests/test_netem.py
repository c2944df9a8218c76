"""Link emulation in network namespaces (root): the link does what it says, and bench runs across it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.netem import SERVER_ADDR, LinkProfile, NetLab
from tests.conftest import ROOT, require


@pytest.fixture(autouse=True)
def needs_root() -> None:
    require(os.geteuid() == 0, "network namespaces need root")
    try:
        import netfilterqueue  # noqa: F401
    except ImportError:
        require(False, "NetfilterQueue not installed (scripts/setup.sh as root)")


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def measure(lab: NetLab, count: int) -> dict[str, float]:
    echo = subprocess.Popen([*lab.server_prefix, sys.executable, "-m", "bench.linkcheck", "echo", "--seconds", "30"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None and echo.stdout.readline().strip() == "ready"
        out = subprocess.run([*lab.viewer_prefix, sys.executable, "-m", "bench.linkcheck", "probe", "--host",
                              SERVER_ADDR, "--count", str(count), "--interval", "0.002"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]
    finally:
        echo.terminate()
        echo.wait(10)


def test_delay_is_what_was_configured() -> None:
    with NetLab(LinkProfile("test", delay_ms=20.0)) as lab:
        result = measure(lab, 300)
    assert result["received"] == 300
    assert 40.0 <= result["rtt_ms_min"] and result["rtt_ms_median"] <= 40.0 + 8.0  # RTT = 2 × one-way delay


def test_loss_is_what_was_configured() -> None:
    with NetLab(LinkProfile("test", loss_pct=5.0)) as lab:
        result = measure(lab, 2000)
    # each probe crosses the link twice: expected round-trip loss 1 - 0.95² = 9.75 %; binomial σ ≈ 0.66 %
    assert 6.5 <= result["round_trip_loss_pct"] <= 13.0, result


def test_namespaces_are_removed_even_after_an_error() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with NetLab(LinkProfile("test", delay_ms=5.0)) as lab:
            assert lab.server_ns in namespaces()
            raise RuntimeError("boom")
    assert lab.server_ns not in namespaces() and lab.viewer_ns not in namespaces()
    leftover = subprocess.run(["pgrep", "-f", "bench.nfq_delay"], capture_output=True, text=True).stdout.strip()
    assert not leftover


def test_bench_across_an_emulated_wan(tmp_path: Path) -> None:
    out = tmp_path / "wan.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "bench", "--profile", "wan", "--duration", "4", "--warmup", "2",
         "--fps", "5", "--quantize", "5", "--points", "8000", "--json", str(out),
         # the two rows whose difference this link shows (the others run on loopback in test_bench.py)
         "--transport", "webrtc-unreliable,websocket"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["parameters"]["link"].startswith("wan (RTT 50 ms, loss 2 %")
    for name, run in report["transports"].items():
        s = run["summary"]
        assert s["error"] is None and s["frames_delivered"] == len(run["samples"]) > 0, name
        # 25 ms each way: no frame can arrive sooner than one one-way delay
        assert all(x["latency_ms"] > 25.0 for x in run["samples"]), name
    assert report["transports"]["webrtc-unreliable"]["summary"]["chunks_lost_pct"] > 0  # loss is real
    assert report["transports"]["websocket"]["summary"]["chunks_lost_pct"] == 0  # TCP retransmits
    assert "pcsb" not in namespaces()
