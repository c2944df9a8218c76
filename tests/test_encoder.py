"""Frame encoder: packet-sized chunks that reassemble to the frame, encode-time options."""
from __future__ import annotations

import numpy as np
import pytest

from data.synthetic import SyntheticSource
from rtc.sctp_backlog import SCTP_PACKET_PAYLOAD
from stream.encoder import EncoderOptions, FrameEncoder, progressive_order
from stream.protocol import MAX_MESSAGE_SIZE, Chunk, Encoding, decode_chunk
from tests.helpers import grid_error_bound


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return SyntheticSource().frame(5).points


def reassemble(messages: tuple[bytes, ...]) -> tuple[np.ndarray, list[Encoding]]:
    chunks = [decode_chunk(m) for m in messages]
    n = chunks[0].header.frame_points
    out = np.full((n, 4), np.nan, dtype=np.float32)
    for c in chunks:
        out[c.header.point_offset:c.header.point_offset + c.header.point_count] = c.points
    return out, [c.header.encoding for c in chunks]


@pytest.mark.parametrize("packets", [1, 2, 4, 14])
def test_lossless_frame_reassembles_exactly_in_packet_sized_chunks(frame: np.ndarray, packets: int) -> None:
    encoded = FrameEncoder(EncoderOptions(quantize_mm=0, chunk_packets=packets)).encode(9, 123.5, frame)
    sizes = np.array([len(m) for m in encoded.messages])
    assert sizes.max() <= packets * SCTP_PACKET_PAYLOAD <= MAX_MESSAGE_SIZE
    assert sizes.mean() > 0.85 * packets * SCTP_PACKET_PAYLOAD  # packets are nearly full
    points, _ = reassemble(encoded.messages)
    assert np.array_equal(points, frame)
    assert encoded.frame_id == 9 and encoded.point_count == len(frame)


def test_quantized_frame_is_smaller_and_within_the_grid_bound(frame: np.ndarray) -> None:
    lossless = FrameEncoder(EncoderOptions(quantize_mm=0)).encode(1, 0.0, frame)
    encoder = FrameEncoder(EncoderOptions(quantize_mm=5))
    q = encoder.encode(1, 0.0, frame)
    assert q.nbytes < lossless.nbytes / 3.5
    points, encodings = reassemble(q.messages)
    assert set(encodings) == {Encoding.SPHERICAL} and encoder.fallback_frames == 0
    distance = np.linalg.norm(points[:, :3].astype(np.float64) - frame[:, :3], axis=1)
    assert distance.max() <= grid_error_bound(0.005, 120)


def test_a_frame_spherical_cannot_code_goes_lossless(frame: np.ndarray) -> None:
    encoder = FrameEncoder(EncoderOptions(quantize_mm=1))
    broken = frame.copy()
    broken[10, 0] = np.inf
    points, encodings = reassemble(encoder.encode(1, 0.0, broken).messages)
    assert set(encodings) == {Encoding.FLOAT32} and encoder.fallback_frames == 1
    assert points.tobytes() == broken.tobytes()


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64, 100, 129])
def test_progressive_order_spreads_every_prefix(count: int) -> None:
    """Every prefix of k chunks leaves no gap wider than 2·count/k chunks (bit reversal), and it is a
    permutation. Mutation check: sending in index order leaves a gap of count - k."""
    order = progressive_order(count)
    assert sorted(order) == list(range(count))
    for k in range(1, count + 1):
        taken = sorted(order[:k])
        gaps = np.diff([-1, *taken, count]) - 1
        assert gaps.max() <= max(1, 2 * count / k), (k, taken)


def test_the_encoder_sends_chunks_in_progressive_order(frame: np.ndarray) -> None:
    encoded = FrameEncoder(EncoderOptions(quantize_mm=5)).encode(1, 0.0, frame)
    headers = [decode_chunk(m).header for m in encoded.messages]
    assert [h.chunk_index for h in headers] == list(range(len(headers)))  # the index is the place in the send order
    by_offset = sorted(range(len(headers)), key=lambda rank: headers[rank].point_offset)
    assert [by_offset[i] for i in progressive_order(len(headers))] == list(range(len(headers)))


def test_empty_frame_has_no_messages() -> None:
    encoded = FrameEncoder().encode(1, 0.0, np.zeros((0, 4), np.float32))
    assert encoded.messages == () and encoded.point_count == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"quantize_mm": -1}, "quantize step must be >= 0"),
    ({"quantize_mm": 0.01}, "below the 0.1 mm minimum"),
    ({"quantize_mm": float("nan")}, "quantize step must be >= 0"),
    ({"chunk_packets": 0}, "chunk size must be 1..56 packets"),
    ({"chunk_packets": 57}, "chunk size must be 1..56 packets"),
])
def test_bad_options_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EncoderOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("quantize", [5, 0])
def test_a_frame_encoded_in_part_is_the_first_chunks_of_its_send_order(frame: np.ndarray, quantize: float) -> None:
    """``share`` < 1 (what the fitted viewers take): about that share of the chunks is encoded, and they are
    what a fitted sender would send of the whole frame: indices 0..k-1 of the frame's chunk count, spread
    over the whole scene, every point where it belongs. Mutation check: taking the runs in scan order leaves
    a gap of three quarters of the frame."""
    encoder = FrameEncoder(EncoderOptions(quantize_mm=quantize))
    whole = encoder.encode(1, 0.0, frame)
    part = encoder.encode(2, 0.0, frame, share=0.25)
    headers = [decode_chunk(m).header for m in part.messages]
    k = len(headers)
    assert [h.chunk_index for h in headers] == list(range(k))
    assert {(h.chunks_sent, h.chunk_count, h.frame_points) for h in headers} == {(k, part.chunk_count, len(frame))}
    assert 0.2 * part.chunk_count <= k <= 0.35 * part.chunk_count
    assert abs(part.chunk_count - whole.chunk_count) <= 0.15 * whole.chunk_count
    assert part.nbytes < 0.4 * whole.nbytes
    points, _ = reassemble(part.messages)
    sent = ~np.isnan(points[:, 0])
    assert sent.sum() == sum(h.point_count for h in headers) and 0.2 < sent.mean() < 0.35
    starts = sorted(h.point_offset for h in headers)
    assert np.diff([0, *starts, len(frame)]).max() <= 3 * len(frame) / k
    if quantize:
        distance = np.linalg.norm(points[sent, :3].astype(np.float64) - frame[sent, :3], axis=1)
        assert distance.max() <= grid_error_bound(0.005, 120)
    else:
        assert np.array_equal(points[sent], frame[sent])


def test_a_part_whose_runs_overflow_their_messages_splits_them_in_place(frame: np.ndarray) -> None:
    """After a calm frame (a few bytes a point) the size estimate is far too low for a busy one: its runs
    overflow and are split, and the pieces still form the first chunks of the send order, each one message."""
    encoder = FrameEncoder(EncoderOptions(quantize_mm=5))
    encoder.encode(1, 0.0, np.repeat(frame[:1], 4000, axis=0))  # one point, 4,000 times
    part = encoder.encode(2, 0.0, frame, share=0.1)
    assert encoder.retries > 0
    headers = [decode_chunk(m).header for m in part.messages]
    assert [h.chunk_index for h in headers] == list(range(len(headers)))
    assert {(h.chunks_sent, h.chunk_count) for h in headers} == {(len(headers), part.chunk_count)}
    assert max(len(m) for m in part.messages) <= EncoderOptions().message_budget
    points, _ = reassemble(part.messages)
    assert (~np.isnan(points[:, 0])).sum() == sum(h.point_count for h in headers)  # no point sent twice


def test_a_part_is_checked_where_it_is_coded(frame: np.ndarray) -> None:
    """A point SPHERICAL cannot code (not finite) sends the part lossless only if it is in a run being coded:
    the part's frame is computed for its runs alone (codec/spherical.py, ``runs``)."""
    def part(points: np.ndarray) -> tuple[FrameEncoder, list[Chunk]]:
        encoder = FrameEncoder(EncoderOptions(quantize_mm=5))
        encoder.encode(1, 0.0, frame)  # the same history, so the same runs
        return encoder, [decode_chunk(m) for m in encoder.encode(2, 0.0, points, share=0.1).messages]

    _, clean = part(frame)
    covered = np.zeros(len(frame), bool)
    for c in clean:
        covered[c.header.point_offset:c.header.point_offset + c.header.point_count] = True
    outside, inside = int(np.flatnonzero(~covered)[0]), int(np.flatnonzero(covered)[0])
    for at, lossless in ((outside, False), (inside, True)):
        broken = frame.copy()
        broken[at, 1] = np.nan
        encoder, chunks = part(broken)
        assert encoder.fallback_frames == int(lossless)
        assert {c.header.encoding for c in chunks} == {Encoding.FLOAT32 if lossless else Encoding.SPHERICAL}
