"""Control messages (stream/messages.py) and the clock-offset estimator (stream/clock.py)."""
from __future__ import annotations

import json

import pytest

from stream.clock import ClockOffsetEstimator
from stream.messages import Hello, Ping, Pong, SenderStatsMessage, ViewerStats, encode, parse_viewer_message


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
        parse_viewer_message(raw)


def test_control_round_trip() -> None:
    assert parse_viewer_message(encode(Ping(3, 1.5))) == Ping(3, 1.5)
    assert parse_viewer_message('{"type": "viewerStats", "fps": 9.5}') == ViewerStats({"fps": 9.5})


def test_server_messages_are_camel_case_json_with_the_type_first() -> None:
    """One vocabulary on the wire: re-declared here, so a renamed field fails (docs/protocol.md)."""
    assert encode(Pong(7, 1.5, 2.0)) == '{"type":"pong","id":7,"t0":1.5,"serverTime":2.0}'
    assert encode(SenderStatsMessage(5, 1, 70, 9000, 1000, 2000, 0.5, 12.5, 2, 3, 0.75, server_time=3.0)) == (
        '{"type":"senderStats","framesSent":5,"framesSkipped":1,"chunksSent":70,"bytesSent":9000,"pointsSent":1000,'
        '"pointsOffered":2000,"fittedShare":0.5,"rateEstimateMbit":12.5,"rateDecreases":2,"rateIncreases":3,'
        '"viewerShare":0.75,"serverTime":3.0}')
    hello = Hello("synthetic", 500, 10.0, "spherical", 5.0, 3, "webrtc", {"ordered": False, "maxRetransmits": 0})
    assert json.loads(encode(hello)) == {
        "type": "hello", "source": "synthetic", "frames": 500, "fps": 10.0, "encoding": "spherical", "quantizeMm": 5.0,
        "viewer": 3, "transport": "webrtc", "pointsChannel": {"ordered": False, "maxRetransmits": 0}}


KNOWN_TYPES = {"ping", "viewerStats", "pause", "resume"}
"""Re-declared from docs/protocol.md on purpose: the oracle below must not ask the code under test."""


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def nesting(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0


def expected_outcome(raw: str | bytes) -> str:
    """What docs/protocol.md says the server does with ``raw``: "pong", "ok" or "bad"."""
    if not isinstance(raw, str) or len(raw) > 16 * 1024:
        return "bad"
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return "bad"
    if not isinstance(value, dict) or nesting(value) > 32 or not isinstance(value.get("type"), str) \
            or value["type"] not in KNOWN_TYPES:
        return "bad"
    if value["type"] != "ping":
        return "ok"
    ping_id, t0 = value.get("id"), value.get("t0")
    echoable = ping_id is None or _number(ping_id) or (isinstance(ping_id, str) and len(ping_id) <= 64)
    return "pong" if echoable and (t0 is None or _number(t0)) else "bad"


def test_any_control_message_is_handled_or_ignored_and_counted() -> None:
    """Thousands of generated control messages: the session never raises, answers every good ping once and
    counts every bad message, as an oracle written from docs/protocol.md (not the parser under test) expects."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from viewers.session import ViewerSession
    from viewers.settings import ViewerSettings

    class Sink:
        def backlog(self) -> int:
            return 0

        def acknowledged_backlog(self) -> bool:
            return False

    replies: list[str] = []
    session = ViewerSession("fuzz", Sink(), replies.append, ViewerSettings(broadcaster=None))  # type: ignore[arg-type]
    known = st.fixed_dictionaries({"type": st.sampled_from(["ping", "viewerStats", "stats", "pause", "resume", "hello",
                                                            "x"])},
                                  optional={"id": st.integers() | st.text(max_size=80) | st.booleans() | st.none(),
                                            "t0": st.floats() | st.text(max_size=3), "fps": st.floats() | st.none()})
    shallow = st.one_of(st.text(max_size=300), st.binary(max_size=300), known.map(json.dumps),
                        st.recursive(st.none() | st.integers() | st.text(max_size=10),
                                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                         max_size=3)).map(json.dumps))
    deep = st.integers(25, 40).map(lambda d: '{"type": "viewerStats", "x": ' + "[" * d + "]" * d + "}")

    @settings(max_examples=3000, deadline=None, derandomize=True, database=None)
    @given(st.one_of(shallow, deep))
    def one(raw: str | bytes) -> None:
        errors, answered = session.control_errors, len(replies)
        session.on_control(raw)  # must not raise
        outcome = expected_outcome(raw)
        assert session.control_errors == errors + (outcome == "bad"), (raw, outcome)
        assert len(replies) == answered + (outcome == "pong"), (raw, outcome)

    one()
    assert session.control_errors > 100 and replies  # bad ones counted, pings answered
