"""Control messages and the clock-offset estimator."""
from __future__ import annotations

import pytest

from stream.control import ClockOffsetEstimator, encode_control, parse_control


def test_clock_offset_recovers_an_injected_offset() -> None:
    offset = -3.25  # remote = local + offset
    est = ClockOffsetEstimator()
    t = 1000.0
    for rtt, outbound in [(0.080, 0.070), (0.004, 0.0025), (0.030, 0.001), (0.012, 0.006)]:
        est.add(t, t + outbound + offset, t + rtt)
        t += 1
    assert est.best is not None and est.best.rtt == pytest.approx(0.004)
    assert abs(est.offset - offset) <= 0.004 / 2  # error bound: half the best RTT
    assert est.offset == pytest.approx(offset + 0.0005)


def test_clock_window_forgets_old_samples() -> None:
    est = ClockOffsetEstimator(window=2)
    est.add(0.0, 5.0, 0.001)
    est.add(1.0, 1.0, 1.1)
    est.add(2.0, 2.0, 2.1)
    assert est.best is not None and est.best.rtt == pytest.approx(0.1)


@pytest.mark.parametrize("raw, message", [
    ("not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ('{"type": 5}', "string 'type'"),
    ('{"type": "reboot"}', "unknown control message type"),
    (b"\x00", "binary"),
    ('{"type": "ping", "pad": "' + "x" * 20000 + '"}', "too long"),
])
def test_bad_control_messages_are_refused(raw: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_control(raw)


def test_control_round_trip() -> None:
    assert parse_control(encode_control("ping", id=3, t0=1.5)) == {"type": "ping", "id": 3, "t0": 1.5}
