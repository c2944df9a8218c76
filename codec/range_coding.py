"""The entropy coder of SPHERICAL payloads: an adaptive binary range coder over binarised residuals.

Every value of a chunk is turned into yes/no decisions; each decision is coded with a probability that
its own counter learns as the chunk goes (no table is sent: a 1,000-point chunk could not pay for one,
which is what zstd's Huffman tables cost, docs/design.md "The point codec"). Exact integer arithmetic, so
client/src/range_decoder.js decodes the same bytes to the same values; docs/protocol.md is normative.

**The coder** (the range coder of LZMA): a probability ``p`` is the chance of a 0 in 12 bits (of 4096),
starting at 2048 and moving ½, ¼, ⅛, then 1/16 of the way to what it sees (RATE_MIN, RATE_MAX). The
encoder keeps ``low`` (33 bits) and ``range`` (32 bits, from 2**32 - 1); a decision splits ``range`` at
``bound = (range >> 12) * p``; direct bits (probability ½, not learnt) divide ``range`` by 2**b, up to 8
at a time; whenever ``range < 2**24`` a byte is shifted out, carries propagating through pending 0xFF
bytes. At the end five more bytes are shifted out. The first byte is always 0 and is not sent.

**A signed value** is coded by its class ``k``, the bit length of its magnitude, against a predicted class
(the rounded-up mean of the stream's two previous classes): "same class", else the direction and the
distance in unary; then the sign, the bit below the leading one (learnt per class) and the rest as direct
bits. A smooth stream (a ring along a wall) mostly costs one decision for its class.

**A chunk** codes point 0's intensity, then for each later point its range, azimuth and elevation residuals
and its intensity. Intensity is coded either as its byte (a binary tree of 255 learnt decisions, most
significant bit first) or, when the header says so, as its difference from the previous point's (modulo
256, a signed value from -128 to 127). Decoding must read exactly the bytes sent: anything else is corrupt.
docs/protocol.md, "The range coder", has every index.

Runs are coded in parallel (numba ``prange``, one run per task): each depends on nothing outside itself.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import threads  # noqa: F401  (before the first parallel loop starts numba's threads)

PROB_BITS = 12
PROB_INIT = 1 << (PROB_BITS - 1)
RATE_MIN, RATE_MAX = 1, 4
"""A probability moves 1/2 of the way to what it sees at its first decision, then 1/4, 1/8, and 1/16 from
then on: it learns fast in a short chunk, then settles (0.35 bit a point less on KITTI than 1/16 throughout)."""
TOP = 1 << 24
CLASSES = 35
"""Bit lengths of a value's magnitude: 0 (the value 0) to 34 (every residual is below 2**34)."""
EQUAL, ABOVE, UP, DOWN, SIGN, MANTISSA = 0, 35, 70, 104, 138, 173
SIGNED_MODEL = 208
"""Probabilities of one signed-value model: "the class is the predicted one" and "it is above" per
predicted class, the unary distance up and down, the sign and the bit below the leading one per class."""
RESIDUAL_STREAMS = 3
BYTE_TREE = 256
"""Probabilities of the intensity byte's tree (nodes 1..255; 0 unused)."""
INTENSITY_MODELS = RESIDUAL_STREAMS * SIGNED_MODEL
"""Where the intensity's probabilities start: after the residual streams' models."""
MODEL_SIZE = INTENSITY_MODELS + max(BYTE_TREE, SIGNED_MODEL)
FLUSH_BYTES = 5
DIRECT_BATCH = 8
"""Direct bits coded in one step: ``range >>= n`` (at least 2**16 remains), the bits times that range."""
MAX_BYTES_PER_POINT = 176
"""Most bytes a point can take, however the probabilities stand: a learnt decision costs at most
log2(4096 / 15) < 8.1 bits (a probability never leaves 15..4081), and a point is four values of at most
37 learnt decisions (class, direction, 33 of distance, sign, mantissa) and 32 direct bits each."""

# Errors the decoder reports (numba raises no formatted exceptions; decode_chunk turns them into ValueError).
OK, READ_PAST_END, CORRUPT = 0, 1, 2
ERRORS = {READ_PAST_END: "the range coder read past the end of the payload",
          CORRUPT: "direct bits out of range: a corrupt payload"}


# ---- encoder ------------------------------------------------------------------------------------------
# Each value is first binarised into a list of (probability index, bit) decisions and its direct bits, then
# coded by one loop whose state stays in local variables (measured 2x faster than passing it between calls).

@njit(inline="always", cache=True)
def _bit_length(v):  # type: ignore[no-untyped-def]
    n = 0
    while v:
        n += 1
        v >>= 1
    return n


@njit(inline="always", cache=True)
def _predicted(k1, k2):  # type: ignore[no-untyped-def]
    return (k1 + k2 + 1) >> 1


@njit(inline="always", cache=True)
def _binarise_signed(r, model, kp, index, bits):  # type: ignore[no-untyped-def]
    """The decisions of ``r`` with the model at ``model`` and predicted class ``kp`` into ``index``/``bits``;
    returns (decisions, r's class, the direct bits' value, their count)."""
    magnitude = r if r > 0 else -r
    k = _bit_length(magnitude)
    index[0] = model + EQUAL + kp
    n = 1
    if k == kp:
        bits[0] = 0
    else:
        bits[0] = 1
        if 0 < kp < CLASSES - 1:  # else the direction is known
            index[1] = model + ABOVE + kp
            bits[1] = 1 if k > kp else 0
            n = 2
        if k > kp:
            d, last, unary = k - kp - 1, CLASSES - 2 - kp, model + UP
        else:
            d, last, unary = kp - k - 1, kp - 1, model + DOWN
        for j in range(d):
            index[n] = unary + j
            bits[n] = 1
            n += 1
        if d < last:
            index[n] = unary + d
            bits[n] = 0
            n += 1
    if k >= 1:
        index[n] = model + SIGN + k
        bits[n] = 1 if r < 0 else 0
        n += 1
    if k >= 2:
        index[n] = model + MANTISSA + k
        bits[n] = (magnitude >> (k - 2)) & 1
        n += 1
        return n, k, magnitude, k - 2
    return n, k, 0, 0


@njit(cache=True, parallel=True)
def encode_runs(ranges, azimuths, elevations, intensity, firsts, counts, offsets, differences, out, sizes):  # type: ignore[no-untyped-def]
    """Code each run (``firsts``, ``counts``) of the residual streams (int64) and ``intensity`` (int64:
    bytes, or differences from -128 to 127 when ``differences``) into ``out`` at the run's ``offsets`` (room for
    ``MAX_BYTES_PER_POINT`` a point and 8 more); ``sizes`` receives each one's length, its first byte (always 0,
    not sent) included. Runs are independent: they are coded on all the cores numba has (NUMBA_NUM_THREADS)."""
    for run in prange(len(firsts)):
        sizes[run] = _encode_run(ranges, azimuths, elevations, intensity, firsts[run], counts[run], differences,
                                 out, offsets[run])


@njit(cache=True)
def _encode_run(ranges, azimuths, elevations, intensity, first, count, differences, out, pos):  # type: ignore[no-untyped-def]
    """One run into ``out`` from ``pos``; returns its length."""
    probs = np.full(MODEL_SIZE, PROB_INIT, np.int64)
    rates = np.full(MODEL_SIZE, RATE_MIN, np.int64)
    index = np.empty(2 * CLASSES + 8, np.int64)
    bits = np.empty(2 * CLASSES + 8, np.int64)
    classes = np.zeros(8, np.int64)  # the classes of the two previous values of each stream
    start = pos
    low, rng, cache, pending = 0, 0xFFFFFFFF, 0, 1
    for i in range(first, first + count):
        for stream in range(0 if i > first else 3, 4):
            direct = magnitude = 0
            if stream == 3 and not differences:
                v = intensity[i]
                node = 1
                for j in range(8):
                    bit = (v >> (7 - j)) & 1
                    index[j] = INTENSITY_MODELS + node
                    bits[j] = bit
                    node = node * 2 + bit
                n = 8
            else:
                value = ranges[i] if stream == 0 else azimuths[i] if stream == 1 else elevations[i] \
                    if stream == 2 else intensity[i]
                kp = _predicted(classes[2 * stream], classes[2 * stream + 1])
                n, k, magnitude, direct = _binarise_signed(value, stream * SIGNED_MODEL, kp, index, bits)
                classes[2 * stream + 1] = classes[2 * stream]
                classes[2 * stream] = k
            for j in range(n):
                at = index[j]
                p = probs[at]
                rate = rates[at]
                if rate < RATE_MAX:
                    rates[at] = rate + 1
                bound = (rng >> PROB_BITS) * p
                if bits[j] == 0:
                    rng = bound
                    probs[at] = p + (((1 << PROB_BITS) - p) >> rate)
                else:
                    low += bound
                    rng -= bound
                    probs[at] = p - (p >> rate)
                while rng < TOP:
                    rng <<= 8
                    low, cache, pending, pos = _shift_low(low, cache, pending, pos, out)
            while direct > 0:
                batch = DIRECT_BATCH if direct > DIRECT_BATCH else direct
                direct -= batch
                rng >>= batch
                low += ((magnitude >> direct) & ((1 << batch) - 1)) * rng
                while rng < TOP:
                    rng <<= 8
                    low, cache, pending, pos = _shift_low(low, cache, pending, pos, out)
    for _ in range(FLUSH_BYTES):
        low, cache, pending, pos = _shift_low(low, cache, pending, pos, out)
    return pos - start


@njit(inline="always", cache=True)
def _shift_low(low, cache, pending, pos, out):  # type: ignore[no-untyped-def]
    if low < 0xFF000000 or low >= 0x100000000:
        carry = low >> 32
        byte = cache
        while True:
            out[pos] = (byte + carry) & 0xFF
            pos += 1
            byte = 0xFF
            pending -= 1
            if pending == 0:
                break
        cache = (low >> 24) & 0xFF
    pending += 1
    return (low & 0x00FFFFFF) << 8, cache, pending, pos


# ---- decoder ------------------------------------------------------------------------------------------
# One function with the coder's state in local variables; _decide is inlined (numba IR) at each decision.

@njit(inline="always", cache=True)
def _decide(probs, rates, at, code, rng, pos, data, end):  # type: ignore[no-untyped-def]
    """One learnt decision: (bit, code, range, bytes read)."""
    p = probs[at]
    rate = rates[at]
    if rate < RATE_MAX:
        rates[at] = rate + 1
    bound = (rng >> PROB_BITS) * p
    if code < bound:
        rng = bound
        probs[at] = p + (((1 << PROB_BITS) - p) >> rate)
        bit = 0
    else:
        code -= bound
        rng -= bound
        probs[at] = p - (p >> rate)
        bit = 1
    while rng < TOP:
        rng <<= 8
        code = ((code << 8) | (data[pos] if pos < end else 0)) & 0xFFFFFFFF
        pos += 1
    return bit, code, rng, pos


@njit(cache=True)
def decode_run(data, start, count, differences, ranges, azimuths, elevations, intensity):  # type: ignore[no-untyped-def]
    """Decode one payload of ``count`` points starting at ``data[start]`` into the arrays (int64; the first
    point's residuals are 0). Returns (error, the position after the payload's last byte read)."""
    probs = np.full(MODEL_SIZE, PROB_INIT, np.int64)
    rates = np.full(MODEL_SIZE, RATE_MIN, np.int64)
    classes = np.zeros(8, np.int64)
    end = len(data)
    pos = start
    code = 0
    for _ in range(4):
        code = (code << 8) | (data[pos] if pos < end else 0)
        pos += 1
    rng = 0xFFFFFFFF
    corrupt = False
    ranges[0] = azimuths[0] = elevations[0] = 0
    for i in range(count):
        for stream in range(0 if i > 0 else 3, 4):
            if stream == 3 and not differences:
                node = 1
                for _ in range(8):
                    bit, code, rng, pos = _decide(probs, rates, INTENSITY_MODELS + node, code, rng, pos, data, end)
                    node = node * 2 + bit
                intensity[i] = node - 256
                continue
            model = stream * SIGNED_MODEL
            kp = _predicted(classes[2 * stream], classes[2 * stream + 1])
            k = kp
            other, code, rng, pos = _decide(probs, rates, model + EQUAL + kp, code, rng, pos, data, end)
            if other:
                above = 1 if kp == 0 else 0
                if 0 < kp < CLASSES - 1:
                    above, code, rng, pos = _decide(probs, rates, model + ABOVE + kp, code, rng, pos, data, end)
                last = CLASSES - 2 - kp if above else kp - 1
                unary = model + (UP if above else DOWN)
                distance = 0
                while distance < last:
                    more, code, rng, pos = _decide(probs, rates, unary + distance, code, rng, pos, data, end)
                    if not more:
                        break
                    distance += 1
                k = kp + 1 + distance if above else kp - 1 - distance
            value = 0
            if k >= 1:
                negative, code, rng, pos = _decide(probs, rates, model + SIGN + k, code, rng, pos, data, end)
                value = 1
                if k >= 2:
                    top, code, rng, pos = _decide(probs, rates, model + MANTISSA + k, code, rng, pos, data, end)
                    rest = 0
                    left = k - 2
                    while left > 0:
                        batch = DIRECT_BATCH if left > DIRECT_BATCH else left
                        left -= batch
                        rng >>= batch
                        v = code // rng
                        if v >> batch:  # only a corrupt payload gets here
                            corrupt = True
                            v = 0
                        code -= v * rng
                        rest = (rest << batch) | v
                        while rng < TOP:
                            rng <<= 8
                            code = ((code << 8) | (data[pos] if pos < end else 0)) & 0xFFFFFFFF
                            pos += 1
                    value = (1 << (k - 1)) | (top << (k - 2)) | rest
                if negative:
                    value = -value
            classes[2 * stream + 1] = classes[2 * stream]
            classes[2 * stream] = k
            if stream == 0:
                ranges[i] = value
            elif stream == 1:
                azimuths[i] = value
            elif stream == 2:
                elevations[i] = value
            else:
                intensity[i] = value
        if pos > end:
            return READ_PAST_END, pos
    if corrupt:
        return CORRUPT, pos
    return OK, pos


def encode(ranges: np.ndarray, azimuths: np.ndarray, elevations: np.ndarray, intensity: np.ndarray,
           firsts: np.ndarray, counts: np.ndarray, differences: bool) -> list[bytes]:
    """The payload of each run of points (residuals int64; ``intensity`` bytes, or differences from -128
    to 127 when ``differences``)."""
    for values in (ranges, azimuths, elevations):  # the compiled coder trusts these bounds: check them here
        if len(values) and int(np.abs(values).max()) >= 1 << (CLASSES - 1):
            raise ValueError(f"a residual of {int(np.abs(values).max())} is beyond the coder's 2**34")
    least, most = (-128, 127) if differences else (0, 255)
    if len(intensity) and not least <= int(intensity.min()) <= int(intensity.max()) <= most:
        raise ValueError(f"intensity values must be {least}..{most}")
    firsts = firsts.astype(np.int64)
    offsets = MAX_BYTES_PER_POINT * firsts + 8 * np.arange(len(firsts), dtype=np.int64)
    out = np.empty(MAX_BYTES_PER_POINT * len(ranges) + 8 * len(firsts), np.uint8)
    sizes = np.zeros(len(firsts), np.int64)
    encode_runs(ranges, azimuths, elevations, intensity.astype(np.int64), firsts, counts.astype(np.int64), offsets,
                bool(differences), out, sizes)
    return [out[at + 1:at + size].tobytes()  # without the run's first byte, always 0
            for at, size in zip(offsets.tolist(), sizes.tolist())]


def decode(payload: bytes | memoryview, count: int, differences: bool
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Range, azimuth and elevation residuals and intensity (int64 each; the first point's residuals 0) of
    a payload of ``count`` points, and the bytes it took (the payload may be followed by other data).

    Raises ValueError when the coder runs past the end of ``payload``."""
    data = np.frombuffer(payload, dtype=np.uint8)
    arrays = [np.empty(count, np.int64) for _ in range(4)]
    error, used = decode_run(data, 0, count, bool(differences), *arrays)
    if error != OK:
        raise ValueError(ERRORS[error])
    return arrays[0], arrays[1], arrays[2], arrays[3], used


def compile_ahead() -> None:
    """Compile the encoder and decoder now (numba caches them on disk, beside this module)."""
    for differences in (False, True):
        ranges = np.array([0, 5, -300, 1 << 30], np.int64)
        intensity = np.array([0, 1, -2, 3] if differences else [0, 255, 7, 128], np.int64)
        (payload,) = encode(ranges, -ranges, ranges, intensity, np.array([0]), np.array([4]), differences)
        decoded = decode(payload, 4, differences)
        assert decoded[1].tolist() == [0, -5, 300, -(1 << 30)] and decoded[3].tolist() == intensity.tolist()
