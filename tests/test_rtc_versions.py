"""The start-up check of the dependencies rtc/ patches (rtc/versions.py)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

import rtc.versions
from rtc import ice_agent, sctp_congestion, sctp_reassembly


def test_the_installed_dependencies_are_the_ones_the_patches_were_written_for() -> None:
    """requirements.txt pins them; an upgrade makes server.py warn at start-up until this passes again."""
    assert rtc.versions.dependency_problems() == []


def test_another_version_or_a_missing_name_is_said_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtc.versions, "version", lambda name: "9.9.9" if name == "aiortc" else "0.13.0")
    monkeypatch.setattr(sctp_congestion, "_REQUIRED", (*sctp_congestion._REQUIRED, "_no_such_thing"))
    problems = rtc.versions.dependency_problems()
    assert problems == ["aiortc 9.9.9 is installed; rtc/ was written for 1.16.0",
                        "aiortc's SCTP lacks _no_such_thing: the point channel keeps standard SCTP congestion "
                        "control (rtc/sctp_congestion.py)"]


def test_each_check_sees_what_it_needs_missing() -> None:
    assert not sctp_reassembly.supported(SimpleNamespace())
    assert ice_agent.missing_internals(lambda ice_controlling: SimpleNamespace()) == list(ice_agent.REQUIRED)
