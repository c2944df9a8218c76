"""Per-viewer sender (stream/sender.py): newest frame wins, no queue of old frames ahead of a new one."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from data.synthetic import SyntheticSource
from stream.broadcaster import FrameBroadcaster
from stream.encoder import EncodedFrame, EncoderOptions
from stream.link_fit import MBIT, FitOptions
from stream.sender import SHARE_HEADROOM, PacingOptions, ViewerSender

from .helpers import until


class FakeSink:
    """A point transport whose backlog the test sets."""

    def __init__(self) -> None:
        self.is_open = True
        self.queued = 0
        self.sent: list[bytes] = []

    def backlog(self) -> int:
        return self.queued

    def acknowledged_backlog(self) -> bool:
        return False  # these tests are of the sender without link fitting (tests/test_link_fit.py has it)

    def round_trip(self) -> float | None:
        return None

    async def send(self, message: bytes) -> None:
        self.sent.append(message)


class FakeBroadcaster:
    """Just what the sender reads: ``fps``, ``latest`` and ``wait_newer``."""

    fps = 100.0

    def __init__(self) -> None:
        self.latest: EncodedFrame | None = None
        self.finished = False
        self._changed = asyncio.Condition()

    async def publish(self, frame_id: int, frame: EncodedFrame | None = None) -> None:
        async with self._changed:
            self.latest = frame or EncodedFrame(frame_id, 0.0, 10, (bytes([frame_id]) * 100,) * 3, 0.0)
            self._changed.notify_all()

    async def finish(self) -> None:
        async with self._changed:
            self.finished = True
            self._changed.notify_all()

    async def wait_newer(self, than: int | None) -> EncodedFrame | None:
        async with self._changed:
            await self._changed.wait_for(
                lambda: self.finished or (self.latest is not None and self.latest.frame_id != than))
            return self.latest if self.latest is not None and self.latest.frame_id != than else None


@asynccontextmanager
async def running(sender: ViewerSender) -> AsyncIterator[asyncio.Task[None]]:
    """The sender's run() as a task for the test's duration, cancelled after it, also on failure."""
    task = asyncio.create_task(sender.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_frame_waits_for_older_data_to_drain_and_is_skipped_for_a_newer_one() -> None:
    sink, broadcaster = FakeSink(), FakeBroadcaster()
    sender = ViewerSender(sink, broadcaster, PacingOptions(spread=0, start_backlog_bytes=1000))  # type: ignore[arg-type]
    async with running(sender):
        await broadcaster.publish(1)
        await asyncio.sleep(0.05)
        assert [m[0] for m in sink.sent] == [1, 1, 1] and sender.stats.frames_sent == 1

        sink.queued = 5000  # the link is still busy with older data
        await broadcaster.publish(2)
        await asyncio.sleep(0.05)
        assert sender.stats.frames_sent == 1  # frame 2 waits instead of queueing behind the backlog
        await broadcaster.publish(3)  # newer one ready: frame 2 is skipped, never sent late
        await asyncio.sleep(0.05)
        assert sender.stats.frames_skipped == 1 and sender.stats.frames_sent == 1

        sink.queued = 900  # drained below the start threshold: the newest frame goes out
        await asyncio.sleep(0.15)  # noticed within one poll interval (at most 50 ms after a long wait)
        assert [m[0] for m in sink.sent[3:]] == [3, 3, 3]
        assert sender.stats.frames_sent == 2 and sender.stats.frames_skipped == 1


async def test_a_paused_viewer_gets_nothing_and_resumes_with_the_newest_frame() -> None:
    sink, broadcaster = FakeSink(), FakeBroadcaster()
    sender = ViewerSender(sink, broadcaster, PacingOptions(spread=0))  # type: ignore[arg-type]
    sender.paused = True
    async with running(sender):
        for frame_id in (1, 2):
            await broadcaster.publish(frame_id)
            await asyncio.sleep(0.02)
        assert sink.sent == []
        sender.paused = False
        await broadcaster.publish(3)
        await asyncio.sleep(0.05)
        assert {m[0] for m in sink.sent} == {3}


class StuckSink(FakeSink):
    """A link that stops draining once a message is in it, while ``stuck`` (a frozen viewer)."""

    stuck = True

    async def send(self, message: bytes) -> None:
        await super().send(message)
        if self.stuck:
            self.queued = 10**6


def stuck_link() -> tuple[StuckSink, FakeBroadcaster, ViewerSender]:
    """A sender on a link that takes one message per frame and then stalls (until ``sink.stuck`` is unset)."""
    sink, broadcaster = StuckSink(), FakeBroadcaster()
    sender = ViewerSender(sink, broadcaster, PacingOptions(spread=0, burst_bytes=1,  # type: ignore[arg-type]
                                                           max_backlog_bytes=1000))
    return sink, broadcaster, sender


async def test_a_stalled_viewer_holds_one_frame_and_its_skips_count_as_they_pass() -> None:
    sink, broadcaster, sender = stuck_link()
    async with running(sender):
        await broadcaster.publish(1)
        await asyncio.sleep(0.05)
        assert len(sink.sent) == 1  # frame 1 started, then the link stopped taking data
        for frame_id in range(2, 12):
            await broadcaster.publish(frame_id)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        # nothing queued behind the stuck frame, and the nine frames that passed are already counted
        # (frame 11, the newest, is not skipped yet: it is the one to send when the link moves)
        assert len(sink.sent) == 1 and sender.stats.frames_skipped == 9 and sender.stats.frames_sent == 0
        sink.stuck, sink.queued = False, 0  # the viewer wakes up: the stuck frame finishes, then the newest
        await asyncio.sleep(0.15)
        assert [m[0] for m in sink.sent] == [1, 1, 1, 11, 11, 11] and sender.stats.frames_sent == 2
        await broadcaster.publish(12)
        await asyncio.sleep(0.15)
        assert [m[0] for m in sink.sent[6:]] == [12, 12, 12]
        assert sender.stats.frames_sent == 3 and sender.stats.frames_skipped == 9


async def test_the_last_frame_of_a_finite_stream_is_sent_though_it_came_while_the_one_before_went_out() -> None:
    sink, broadcaster, sender = stuck_link()
    async with running(sender) as task:
        await broadcaster.publish(1)
        await asyncio.sleep(0.05)  # frame 1 is going out, slowly
        await broadcaster.publish(2)
        await broadcaster.finish()  # and frame 2 was the last one
        await asyncio.sleep(0.02)
        sink.stuck, sink.queued = False, 0
        await asyncio.wait_for(task, 1.0)  # run() returns once the stream has ended...
        assert [m[0] for m in sink.sent] == [1, 1, 1, 2, 2, 2]  # ...with the last frame sent, not dropped
        assert sender.stats.frames_sent == 2 and sender.stats.frames_skipped == 0


async def test_a_sender_waiting_on_a_link_that_does_not_move_backs_off_its_polling() -> None:
    class CountingSink(FakeSink):
        reads = 0

        def backlog(self) -> int:
            self.reads += 1
            return self.queued

    sink, broadcaster = CountingSink(), FakeBroadcaster()
    sink.queued = 10**6  # a frozen viewer: nothing ever drains
    sender = ViewerSender(sink, broadcaster, PacingOptions(spread=0))  # type: ignore[arg-type]
    async with running(sender):
        await broadcaster.publish(1)
        await asyncio.sleep(0.5)
        assert sink.reads < 40, sink.reads  # 2 ms polling would be about 250 reads in 0.5 s
        sink.queued = 0
        await asyncio.sleep(0.15)
        assert sender.stats.frames_sent == 1  # it still notices the link moving again


class FittedSink(FakeSink):
    """A transport whose backlog is acknowledged (a data channel's): its sender fits frames to the link."""

    def acknowledged_backlog(self) -> bool:
        return True

    def round_trip(self) -> float | None:
        return 0.001

    def allow_in_flight(self, nbytes: int) -> None:
        pass


async def test_a_fitted_sender_asks_for_what_its_link_takes_and_frames_are_encoded_for_the_most_asked() -> None:
    """The share of each frame a fitted sender says it takes (its claim's share) is what its fit would take of a
    whole frame, with headroom; the broadcaster encodes the largest share any claim asks for, whole frames when
    no claim says (tests/test_encoder.py: the part encoded is the send order's first chunks)."""
    broadcaster = FrameBroadcaster(SyntheticSource(), EncoderOptions(), 10)
    assert broadcaster.share_wanted() == 1.0
    offer = broadcaster.watching(share=None)  # a viewer's connection coming up: no say in how much
    assert broadcaster.share_wanted() == 1.0
    frames = FakeBroadcaster()
    sink = FittedSink()
    rate = 40 * MBIT  # 5 MB/s: 40,000 bytes a frame at 100 frames/s and a frame share of 0.8
    sender = ViewerSender(sink, frames, PacingOptions(spread=0), fit=FitOptions(initial_rate_bytes=rate))  # type: ignore[arg-type]
    sender.watch = broadcaster.watching()
    async with running(sender):
        # 20 chunks of 1,000 bytes encoded, of 200: the fit takes all of them and would take 40
        await frames.publish(1, EncodedFrame(1, 0.0, 2000, (bytes(1000),) * 20, 0.0, chunk_count=200))
        await until(lambda: len(sink.sent) == 20, 5)
    assert sender.stats.fitted_share == pytest.approx(20 / 200)
    assert sender.watch.share == pytest.approx(40 / 200 * SHARE_HEADROOM + 2 / 200)
    other = broadcaster.watching(share=0.1)
    assert broadcaster.share_wanted() == pytest.approx(sender.watch.share)
    sender.watch.release()
    assert broadcaster.share_wanted() == pytest.approx(0.1)
    other.release()
    assert broadcaster.share_wanted() == 1.0 and broadcaster.audience == 1
    offer.release()
    assert broadcaster.audience == 0
