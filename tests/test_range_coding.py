"""The SPHERICAL range coder (codec/range_coding.py): exact round trips, the size bound the encoder's buffer
relies on, and refusal of payloads a coder cannot have written. (The golden chunk vectors check the same
bytes against the JS decoder: tests/test_protocol.py, client/test/protocol.test.js.)"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec import range_coding

LARGEST = (1 << 34) - 1
"""Largest magnitude the format codes (class 34)."""


def round_trip(values: np.ndarray, intensity: np.ndarray, differences: bool) -> tuple[bytes, list[np.ndarray]]:
    n = len(intensity)
    (payload,) = range_coding.encode(values[:, 0].copy(), values[:, 1].copy(), values[:, 2].copy(), intensity,
                                     np.array([0]), np.array([n]), differences)
    r, a, e, i, used = range_coding.decode(payload, n, differences)
    assert used == len(payload)
    return payload, [r, a, e, i]


residuals = st.integers(-LARGEST, LARGEST) | st.integers(-40, 40)  # the extremes and what a scan has


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(residuals, residuals, residuals, st.integers(0, 255)), min_size=1, max_size=300),
       st.booleans())
def test_every_value_comes_back_exactly_and_the_payload_is_read_to_its_end(rows: list[tuple[int, int, int, int]],
                                                                            differences: bool) -> None:
    values = np.array([row[:3] for row in rows], dtype=np.int64)
    values[0] = 0  # the first point's values are in the header
    intensity = np.array([row[3] for row in rows], dtype=np.int64)
    if differences:
        intensity -= 128
    _, decoded = round_trip(values, intensity, differences)
    for k in range(3):
        assert decoded[k].tolist() == values[:, k].tolist()
    assert decoded[3].tolist() == intensity.tolist()


def test_smooth_streams_cost_a_fraction_of_a_bit_and_noise_costs_its_entropy() -> None:
    n = 2000
    steady = np.zeros((n, 3), np.int64)
    payload, _ = round_trip(steady, np.zeros(n, np.int64), True)
    assert len(payload) * 8 / n < 0.5  # four values a point, each learnt to "same class, zero"
    noise = np.random.default_rng(1).integers(0, 256, n)
    payload, _ = round_trip(steady, noise, False)
    assert 8.0 < len(payload) * 8 / n < 8.6  # uniform bytes: 8 bits, plus what learning them costs


def test_the_worst_case_stays_within_the_encoders_buffer_bound() -> None:
    """Values chosen to defeat every prediction: the class jumps between 0 and 34 and the sign flips."""
    n = 500
    values = np.zeros((n, 3), np.int64)
    values[1::2] = LARGEST
    values[3::4] = -LARGEST
    intensity = np.tile([0, 255], n // 2)
    payload, decoded = round_trip(values, intensity, False)
    assert decoded[0].tolist() == values[:, 0].tolist()
    assert len(payload) <= range_coding.MAX_BYTES_PER_POINT * n + 8


def test_a_cut_payload_is_refused() -> None:
    values = np.random.default_rng(2).integers(-1000, 1000, (300, 3))
    values[0] = 0
    payload, _ = round_trip(values, np.zeros(300, np.int64), True)
    for cut in (0, 3, len(payload) // 2, len(payload) - 1):
        with pytest.raises(ValueError, match="read past the end"):
            range_coding.decode(payload[:cut], 300, True)


def test_bytes_no_encoder_writes_are_refused_or_decode_to_values_never_a_crash() -> None:
    """All 0xFF: the code starts at the top of the range, which no encoder's output does, and direct bits
    come out larger than their width; random bytes: refused or decoded, never more."""
    with pytest.raises(ValueError, match="corrupt payload|read past the end"):
        range_coding.decode(b"\xff" * 64, 40, False)
    rng = np.random.default_rng(3)
    refused = 0
    for _ in range(300):
        data = rng.bytes(int(rng.integers(0, 200)))
        differences = bool(rng.integers(2))
        try:
            r, a, e, i, used = range_coding.decode(data, int(rng.integers(1, 100)), differences)
        except ValueError:
            refused += 1
            continue
        assert used <= len(data) and max(np.abs(v).max() for v in (r, a, e, i)) <= LARGEST
        if not differences:  # a byte from its tree (differences are taken modulo 256 by the caller)
            assert i.min() >= 0 and i.max() <= 255
    assert refused > 100


def test_values_beyond_the_format_are_refused_before_the_compiled_coder_sees_them() -> None:
    """The compiled encoder does not check its indices (numba): a class above 34 or an intensity beyond a
    byte would write outside its tables."""
    zeros = np.zeros(3, np.int64)
    one = (np.array([0]), np.array([3]))
    with pytest.raises(ValueError, match="beyond the coder"):
        range_coding.encode(np.array([0, 1 << 34, 0]), zeros, zeros, zeros, *one, False)
    with pytest.raises(ValueError, match="intensity values must be 0..255"):
        range_coding.encode(zeros, zeros, zeros, np.array([0, 256, 0]), *one, False)
    with pytest.raises(ValueError, match="must be -128..127"):
        range_coding.encode(zeros, zeros, zeros, np.array([0, 128, 0]), *one, True)
    (payload,) = range_coding.encode(np.array([0, LARGEST, -LARGEST]), zeros, zeros, zeros, *one, False)
    assert range_coding.decode(payload, 3, False)[0].tolist() == [0, LARGEST, -LARGEST]
