"""Frame encoder: packet-sized chunks that reassemble to the frame, encode-time options."""
from __future__ import annotations

import numpy as np
import pytest

from data.synthetic import SyntheticSource
from rtc.sctp_backlog import SCTP_PACKET_PAYLOAD
from stream.encoder import EncoderOptions, FrameEncoder
from stream.protocol import MAX_MESSAGE_SIZE, Encoding, decode_chunk


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
    encoded = FrameEncoder(EncoderOptions(chunk_packets=packets)).encode(9, 123.5, frame)
    sizes = np.array([len(m) for m in encoded.messages])
    assert sizes.max() <= packets * SCTP_PACKET_PAYLOAD <= MAX_MESSAGE_SIZE
    assert sizes.mean() > 0.85 * packets * SCTP_PACKET_PAYLOAD  # packets are nearly full
    points, _ = reassemble(encoded.messages)
    assert np.array_equal(points, frame)
    assert encoded.frame_id == 9 and encoded.point_count == len(frame)


def test_quantized_frame_is_smaller_and_within_half_a_step(frame: np.ndarray) -> None:
    lossless = FrameEncoder(EncoderOptions()).encode(1, 0.0, frame)
    encoder = FrameEncoder(EncoderOptions(quantize_mm=5))
    q = encoder.encode(1, 0.0, frame)
    assert q.nbytes < lossless.nbytes / 2.5
    points, encodings = reassemble(q.messages)
    assert set(encodings) == {Encoding.INT16} and encoder.fallback_chunks == 0
    assert np.abs(points[:, :3] - frame[:, :3]).max() <= 0.0025 + 120 * 2 ** -23


def test_chunks_too_wide_for_the_step_fall_back_to_lossless(frame: np.ndarray) -> None:
    encoder = FrameEncoder(EncoderOptions(quantize_mm=0.5, chunk_packets=8))
    points, encodings = reassemble(encoder.encode(1, 0.0, frame).messages)
    assert Encoding.FLOAT32 in encodings and encoder.fallback_chunks > 0
    assert np.abs(points[:, :3] - frame[:, :3]).max() <= 0.00025 + 120 * 2 ** -23


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
