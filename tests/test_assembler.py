"""Reassembly and link statistics under a repeatable loss pattern (no network)."""
from __future__ import annotations

import numpy as np

from data.synthetic import SyntheticSource
from headless.assembler import AssembledFrame, FrameAssembler, newer
from stream.encoder import EncoderOptions, FrameEncoder


def encoded(frame_id: int, index: int = 3) -> tuple[np.ndarray, tuple[bytes, ...]]:
    points = SyntheticSource().frame(index).points[:20000]
    encoder = FrameEncoder(EncoderOptions(quantize_mm=0, chunk_packets=4))
    return points, encoder.encode(frame_id, 100.0 + frame_id, points).messages


def run(messages: list[bytes], points: bool = True) -> tuple[FrameAssembler, list[AssembledFrame]]:
    frames: list[AssembledFrame] = []
    assembler = FrameAssembler(frames.append, clock=lambda: 200.0, points=points)
    for m in messages:
        assembler.push(m)
    assembler.flush()
    return assembler, frames


def test_unordered_delivery_reassembles_complete_frames() -> None:
    points, messages = encoded(1)
    shuffled = list(messages[:-1])
    np.random.default_rng(0).shuffle(shuffled)
    shuffled.append(messages[-1])  # the sender sends a frame's last chunk last
    assembler, frames = run(shuffled)
    assert len(frames) == 1 and frames[0].complete
    assert np.array_equal(frames[0].points, points)
    assert frames[0].latency == 200.0 - 101.0
    assert assembler.stats.loss_ratio == 0


def test_dropped_chunks_lose_only_their_points() -> None:
    points, messages = encoded(1)
    _, next_messages = encoded(2, index=4)
    dropped = {1, 5, 6}
    kept = [m for i, m in enumerate(messages) if i not in dropped]
    assembler, frames = run(kept + list(next_messages))
    first = frames[0]
    assert not first.complete and first.chunks_received == len(messages) - 3
    assert assembler.stats.chunks_lost == 3 and assembler.stats.frames_partial == 1
    missing = np.isnan(first.points[:, 0])
    assert np.array_equal(first.points[~missing], points[~missing])
    assert 0 < missing.sum() == len(points) - first.points_received
    assert frames[1].complete


def test_late_duplicate_and_bad_chunks_are_counted() -> None:
    _, a = encoded(7)
    _, b = encoded(8)
    assembler, frames = run([a[0], a[0], b[0], a[1], b"\x00" * 10, *b[1:]])
    s = assembler.stats
    assert (s.duplicate_chunks, s.late_chunks, s.bad_chunks) == (1, 1, 1)
    assert [f.frame_id for f in frames] == [7, 8] and frames[1].complete


def test_frame_ids_wrap() -> None:
    assert newer(0, 0xFFFFFFFF) and not newer(0xFFFFFFFF, 0) and not newer(5, 5)
    _, a = encoded(0xFFFFFFFF)
    _, b = encoded(0)
    assembler, frames = run([a[0], *b])
    assert [f.frame_id for f in frames] == [0xFFFFFFFF, 0] and assembler.stats.late_chunks == 0


def test_a_frame_whose_last_chunk_is_in_finishes_at_once_and_a_chunk_after_it_is_late() -> None:
    """Nothing is retransmitted on the point channel and the path keeps order: when the last chunk is in,
    the missing ones were lost. Waiting for the next frame instead cost partial frames a frame interval."""
    _, messages = encoded(1)
    frames: list[AssembledFrame] = []
    times = iter([10.0, 10.1, 10.2])
    assembler = FrameAssembler(frames.append, clock=lambda: next(times))
    assembler.push(messages[0])
    assembler.push(messages[-1])
    assert len(frames) == 1 and not frames[0].complete and frames[0].chunks_received == 2
    assert frames[0].finished_at == 10.1 and frames[0].latency == 10.1 - 101.0
    assert assembler.stats.chunks_lost == len(messages) - 2
    assembler.push(messages[1])
    assert assembler.stats.late_chunks == 1 and len(frames) == 1


def test_a_viewer_sent_a_prefix_finishes_with_the_last_chunk_sent_and_counts_no_loss() -> None:
    """A fitted sender sends the first chunks_sent chunks (relabelled): the frame finishes with chunk
    chunks_sent - 1, the rest is counted as unsent, not lost; the points that came are the frame's."""
    from stream.protocol import with_chunks_sent
    points, messages = encoded(1)
    prefix = [with_chunks_sent(m, 5) for m in messages[:5]]
    assembler, frames = run([prefix[1], prefix[0], prefix[3], prefix[2], prefix[4]])
    (frame,) = frames
    assert not frame.complete and frame.chunks_received == frame.chunks_sent == 5
    assert assembler.stats.chunks_lost == 0 and assembler.stats.chunks_unsent == len(messages) - 5
    got = ~np.isnan(frame.points[:, 0])
    assert 0 < frame.point_share < 1 and np.array_equal(frame.points[got], points[got])


def test_with_the_sender_clock_known_a_new_frame_captured_too_long_ago_is_stale() -> None:
    """As the page does behind an SFU (Janus never drops): while frames are being finished, a new frame captured
    more than max_age before the sender's clock now is not started, and its chunks are counted
    as stale. Unknown clock, or no frame finished for max_age (a viewer too slow for any frame to be fresh):
    it is drawn."""
    encoder = FrameEncoder(EncoderOptions())
    fresh = encoder.encode(1, 1000.0, np.ones((50, 4), np.float32)).messages[0]
    old = encoder.encode(2, 998.0, np.ones((50, 4), np.float32)).messages[0]
    for server_now, first, stale in ((lambda: 1000.1, True, 1), (lambda: 1000.1, False, 0), (lambda: None, True, 0)):
        frames: list[AssembledFrame] = []
        assembler = FrameAssembler(frames.append, clock=lambda: 0.0, server_now=server_now, max_age=1.5)
        if first:
            assembler.push(fresh)  # finished at once: frames are flowing
        assembler.push(old)
        assert assembler.stats.stale_chunks == stale
        assert len(frames) == int(first) + 1 - stale


def test_an_assembler_reading_headers_only_counts_what_a_decoding_one_counts() -> None:
    """The benchmark's light viewers: the same frames, chunks, points and losses, no points decoded."""
    _, a = encoded(7)
    _, b = encoded(8, index=4)
    garbled = bytearray(b[2])
    garbled[:4] = b"XXXX"  # a bad magic: refused by the header alone
    messages = [a[0], a[0], *a[2:], b[0], a[1], bytes(garbled), *b[3:]]
    full, full_frames = run(messages)
    light, light_frames = run(messages, points=False)
    assert light.stats == full.stats and light.stats.bad_chunks == 1 and light.stats.chunks_lost == 3
    assert [(f.frame_id, f.points_received, f.chunks_received, f.complete) for f in light_frames] == \
        [(f.frame_id, f.points_received, f.chunks_received, f.complete) for f in full_frames]
    assert all(f.points.shape == (0, 4) for f in light_frames) and full_frames[0].points.shape[0] > 0
