"""Link fitting (stream/link_fit.py): each frame's prefix sized from what the link delivers, against a
simulated bottleneck (a fluid model of a rate-limited queue with a base round trip), no network."""
from __future__ import annotations

import math

import pytest

from stream.link_fit import MBIT, FitOptions, LinkFitter
from stream.sender import SHARE_HEADROOM

FPS = 10.0
CHUNK = 2000
FRAME_CHUNKS = 150  # a full 5 mm frame: 300 kB, 24 Mbit/s at 10 Hz


class Bottleneck:
    """Bytes go in when sent and are acknowledged at ``rate`` bytes/s, one base round trip later."""

    def __init__(self, rate: float, rtt: float = 0.05) -> None:
        self.rate, self.rtt = rate, rtt
        self.sent = 0
        self._busy_until = 0.0
        self._log: list[tuple[float, int]] = []  # (acknowledged at, total bytes by then)

    def send(self, now: float, nbytes: int) -> None:
        self._busy_until = max(self._busy_until, now) + nbytes / self.rate
        self.sent += nbytes
        self._log.append((self._busy_until + self.rtt, self.sent))

    def acked(self, now: float) -> int:
        return max((total for at, total in self._log if at <= now), default=0)


def run(fitter: LinkFitter, link: Bottleneck, frames: int, start: float = 0.0, in_part: bool = False,
        steps: dict[int, float] | None = None) -> list[int]:
    """Frames at 10 Hz through the fitter into the link; the chunks sent of each. ``in_part``: each frame is
    encoded only as far as the fit of the one before asked, with the sender's headroom (stream/sender.py).
    ``steps``: the link's rate from frame k on."""
    sent = []
    deadlines = []
    encoded = FRAME_CHUNKS
    for k in range(frames):
        now = start + k / FPS
        link.rate = (steps or {}).get(k, link.rate)
        for when, plan in [d for d in deadlines if d[0] <= now]:
            LinkFitter.at_halfway(plan, link.acked(plan.halfway), 2 * CHUNK)
            fitter.at_deadline(plan, when, link.acked(when), 2 * CHUNK)
            deadlines.remove((when, plan))
        fitter.observe_rtt(link.rtt)
        backlog = link.sent - link.acked(now)
        plan = fitter.budget([CHUNK] * encoded, backlog, now, link.acked(now), FRAME_CHUNKS)
        if in_part:
            encoded = min(FRAME_CHUNKS, math.ceil((plan.wanted * SHARE_HEADROOM + 2 / FRAME_CHUNKS) * FRAME_CHUNKS))
        link.send(now, plan.chunks * CHUNK)
        plan.sent_through = link.sent
        deadlines.append((plan.deadline, plan))
        sent.append(plan.chunks)
    return sent


@pytest.mark.parametrize("mbit", [5, 20])
def test_the_fit_converges_to_what_the_link_carries_without_a_standing_queue(mbit: float) -> None:
    """Mutation check: without the decrease at the deadline the queue (and the latency) grows without bound."""
    link = Bottleneck(mbit * MBIT)
    fitter = LinkFitter(FitOptions(), FPS)
    sent = run(fitter, link, 100)
    steady = sent[50:]
    carried = mbit * MBIT / FPS / CHUNK  # chunks per frame interval the link carries
    assert 0.5 * carried <= sum(steady) / len(steady) <= carried
    # every steady frame is acknowledged within its interval plus a round trip: no queue builds up
    now = 100 / FPS
    assert link.sent - link.acked(now + 1 / FPS + link.rtt) <= 2 * CHUNK


def test_a_fast_link_gets_whole_frames_and_a_rate_step_is_followed_both_ways() -> None:
    link = Bottleneck(50 * MBIT)
    fitter = LinkFitter(FitOptions(), FPS)
    fast = run(fitter, link, 30)
    assert fast[-5:] == [FRAME_CHUNKS] * 5
    link.rate = 5 * MBIT  # the step down: within 1 s the frames fit the slow link
    slow = run(fitter, link, 30, start=3.0)
    carried = 5 * MBIT / FPS / CHUNK
    assert all(n <= carried * 1.3 for n in slow[10:])
    link.rate = 50 * MBIT  # and back up: nine tenths of the frame within 1 s, whole frames after 1.2 s
    again = run(fitter, link, 20, start=6.0)
    assert min(again[10:]) >= 0.9 * FRAME_CHUNKS and again[12:] == [FRAME_CHUNKS] * 8


def test_caps_and_the_least_a_frame_gets() -> None:
    fitter = LinkFitter(FitOptions(max_point_share=0.5), FPS)
    assert fitter.budget([100] * 10, 0, 0.0, 0).chunks == 5
    capped = LinkFitter(FitOptions(max_rate_bytes=1 * MBIT, initial_rate_bytes=1 * MBIT), FPS)
    link = Bottleneck(50 * MBIT)
    assert max(run(capped, link, 30)) <= 1 * MBIT / FPS / CHUNK * 0.8 + 1
    starved = LinkFitter(FitOptions(), FPS)
    assert starved.budget([CHUNK] * 10, 10**9, 0.0, 0).chunks == FitOptions().min_chunks


def test_the_fit_says_what_it_would_take_of_a_frame_encoded_in_part() -> None:
    """A frame of which only the first chunks were encoded (stream/encoder.py): the fit takes them all and says
    how much of the whole frame it would have taken, which is what the next frame is encoded for."""
    fitter = LinkFitter(FitOptions(initial_rate_bytes=8 * MBIT), FPS)  # 80 kB a frame: 80 chunks of 1,000 bytes
    part = fitter.budget([1000] * 10, 0, 0.0, 0, chunk_count=200)
    assert part.chunks == 10 and not part.limited and part.wanted == pytest.approx(80 / 200)
    whole = fitter.budget([1000] * 200, 0, 0.0, 0)
    assert whole.chunks == 80 and whole.limited and whole.wanted == pytest.approx(80 / 200)
    capped = LinkFitter(FitOptions(initial_rate_bytes=8 * MBIT, max_point_share=0.25), FPS)
    assert capped.budget([1000] * 10, 0, 0.0, 0, chunk_count=200).wanted == pytest.approx(0.25)
    queued = fitter.budget([1000] * 200, 90_000, 0.0, 0)  # 40 kB queued beyond the path: off this frame only
    assert queued.chunks < 80 and queued.wanted == pytest.approx(80 / 200)


@pytest.mark.parametrize("mbit, steps", [(5, None), (20, None), (50, {30: 5 * MBIT, 60: 50 * MBIT})])
def test_frames_encoded_in_part_are_fitted_as_whole_frames_are(mbit: float, steps: dict[int, float] | None) -> None:
    """Encoding each frame only as far as the fit asked (with the sender's headroom) must not change what the
    link gets: the same chunks, frame for frame, as with whole frames, at a steady rate and across a step
    50 → 5 → 50 Mbit/s (a fit asking for what it took of the frame before, a queue's share off, settled
    10-15 % lower)."""
    whole = run(LinkFitter(FitOptions(), FPS), Bottleneck(mbit * MBIT), 100, steps=steps)
    part = run(LinkFitter(FitOptions(), FPS), Bottleneck(mbit * MBIT), 100, in_part=True, steps=steps)
    assert part == whole
    if steps:
        assert min(whole[10:30]) == whole[-1] == FRAME_CHUNKS and max(whole[35:60]) < FRAME_CHUNKS / 2  # it stepped


@pytest.mark.parametrize("kwargs, message", [
    ({"frame_share": 0}, "frame share"), ({"max_point_share": 1.5}, "largest share"),
    ({"max_rate_bytes": 0}, "rate ceiling"),
])
def test_bad_options_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FitOptions(**kwargs)  # type: ignore[arg-type]


def test_a_viewer_short_of_cpu_gets_fewer_points_and_untrusted_reports_are_ignored() -> None:
    fitter = LinkFitter(FitOptions(), FPS)
    for _ in range(5):
        fitter.viewer_report(10.0, 5.0)  # draws half of what it gets
    assert fitter.viewer_share < 0.1
    assert fitter.budget([100] * 100, 0, 0.0, 0).chunks <= 10
    for bad in ("10", None, float("nan"), -3.0, float("inf")):
        fitter.viewer_report(bad, 1.0)
        fitter.viewer_report(10.0, bad)
    assert fitter.viewer_share < 0.1
    for _ in range(40):
        fitter.viewer_report(10.0, 10.0)  # keeps up again: back to whole frames
    assert fitter.viewer_share == 1.0
