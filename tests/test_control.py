"""Control messages and the clock-offset estimator."""
from __future__ import annotations

import json

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


def test_any_control_message_is_handled_or_ignored_and_counted() -> None:
    """Thousands of generated control messages: the session never raises and counts every bad one."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from signaling.session import ViewerSession
    from stream.control import parse_control

    class Sink:
        def backlog(self) -> int:
            return 0

    replies: list[str] = []
    session = ViewerSession("fuzz", Sink(), replies.append, broadcaster=None, pacing=None)  # type: ignore[arg-type]
    known = st.fixed_dictionaries({"type": st.sampled_from(["ping", "stats", "pause", "resume", "hello", "x"])},
                                  optional={"id": st.integers() | st.text(max_size=5), "t0": st.floats(),
                                            "fps": st.floats() | st.none()})
    messages = st.one_of(st.text(max_size=300), st.binary(max_size=300), known.map(json.dumps),
                         st.recursive(st.none() | st.integers() | st.text(max_size=10),
                                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                          max_size=3)).map(json.dumps))

    @settings(max_examples=3000, deadline=None, derandomize=True)
    @given(messages)
    def one(raw: str | bytes) -> None:
        before = session.control_errors
        try:
            parse_control(raw)
            valid = True
        except ValueError:
            valid = False
        session.on_control(raw)  # must not raise
        assert session.control_errors == before + (0 if valid else 1)

    one()
    assert session.control_errors > 100 and replies  # bad ones counted, pings answered
