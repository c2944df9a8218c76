"""The entropy coder of SPHERICAL payloads: an adaptive binary range coder over binarised residuals.

Every value of a chunk is turned into yes/no decisions; each decision is coded with a probability that
its own counter learns as the chunk goes (no table is sent: a 1,000-point chunk could not pay for one,
which is what zstd's Huffman tables cost, docs/design.md "The point codec"). Exact integer arithmetic, so
client/src/range_decoder.js decodes the same bytes to the same values; docs/protocol.md is normative.

**The coder** (the range coder of LZMA): a probability ``p`` is the chance of a 0 in 12 bits (of 4096),
starting at 2048 and moving ``1/16`` of the way to what it sees (``p += (4096 - p) >> 4`` after a 0,
``p -= p >> 4`` after a 1). The encoder keeps ``low`` (33 bits) and ``range`` (32 bits, from 2**32 - 1);
a decision splits ``range`` at ``bound = (range >> 12) * p``; a *direct* bit (probability ½, not learnt)
halves ``range``; whenever ``range < 2**24`` it shifts a byte out, carries propagating through pending
0xFF bytes. At the end five more bytes are shifted out. The first byte is always 0 and is not sent.

**A signed value** ``r`` with context model ``M`` (docs/protocol.md has the table): a decision "r is not 0";
then "r < 0"; then ``m = |r| - 1`` by its bit length ``k`` (0..32) in unary ("k > j" for j = 0, 1, ...,
stopping at a "no" or at 32), the bit below ``m``'s leading one learnt per ``k`` (when ``k >= 2``), and
the ``k - 2`` bits below that as direct bits, most significant first.

**A chunk** codes point 0's intensity, then for each later point its range, azimuth and elevation residuals
and its intensity. The context of a residual is ``min(3, bit_length(|a| + |b|))`` for the stream's two
previous residuals ``a`` and ``b`` in the chunk (0 before there are any). Intensity is coded either as its
byte (a binary tree of 255 learnt decisions, most significant bit first) or, when the header says so, as
its difference from the previous point's (modulo 256, as a signed value from -128 to 127, context from
the two previous differences). Decoding must read exactly the bytes sent: anything else is corrupt.
"""
from __future__ import annotations

import numpy as np
from numba import njit

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
MAX_BYTES_PER_POINT = 160
"""Most bytes a point can take, however the probabilities stand: a learnt decision costs at most
log2(4096 / 15) < 8.1 bits (a probability never leaves 15..4081), and a point is at most 140 learnt
decisions (35 per signed value) and 120 direct bits."""

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


@njit(cache=True)
def encode_runs(ranges, azimuths, elevations, intensity, firsts, counts, differences, out, sizes):  # type: ignore[no-untyped-def]
    """Code each run (``firsts``, ``counts``) of the residual streams (int64) and ``intensity`` (int64:
    bytes, or differences from -128 to 127 when ``differences``) into ``out``, one payload after another;
    ``sizes`` receives each payload's length. Returns the bytes written. ``out`` must hold
    ``MAX_BYTES_PER_POINT * points + 8 * runs`` bytes."""
    probs = np.empty(MODEL_SIZE, np.int64)
    rates = np.empty(MODEL_SIZE, np.int64)
    index = np.empty(2 * CLASSES + 8, np.int64)
    bits = np.empty(2 * CLASSES + 8, np.int64)
    classes = np.zeros(8, np.int64)  # the classes of the two previous values of each stream
    pos = 0
    for run in range(len(firsts)):
        first = firsts[run]
        probs[:] = PROB_INIT
        rates[:] = RATE_MIN
        classes[:] = 0
        start = pos
        low, rng, cache, pending = 0, 0xFFFFFFFF, 0, 1
        for i in range(first, first + counts[run]):
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
        # the first byte is always 0: not sent
        for j in range(start, pos - 1):
            out[j] = out[j + 1]
        pos -= 1
        sizes[run] = pos - start
    return pos


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
# State (code, range, pos, error); reads past the end see zeros and set the error.

@njit(inline="always", cache=True)
def _next_byte(data, pos, end, error):  # type: ignore[no-untyped-def]
    if pos < end:
        return data[pos], pos + 1, error
    return 0, pos + 1, READ_PAST_END


@njit(inline="always", cache=True)
def _decode_bit(d, data, end, probs, rates, i):  # type: ignore[no-untyped-def]
    code, rng, pos, error = d
    p = probs[i]
    rate = rates[i]
    if rate < RATE_MAX:
        rates[i] = rate + 1
    bound = (rng >> PROB_BITS) * p
    if code < bound:
        rng = bound
        probs[i] = p + (((1 << PROB_BITS) - p) >> rate)
        bit = 0
    else:
        code -= bound
        rng -= bound
        probs[i] = p - (p >> rate)
        bit = 1
    while rng < TOP:
        byte, pos, error = _next_byte(data, pos, end, error)
        rng <<= 8
        code = ((code << 8) | byte) & 0xFFFFFFFF
    return bit, (code, rng, pos, error)


@njit(inline="always", cache=True)
def _decode_direct(d, data, end, count):  # type: ignore[no-untyped-def]
    code, rng, pos, error = d
    value = 0
    while count > 0:
        n = DIRECT_BATCH if count > DIRECT_BATCH else count
        count -= n
        rng >>= n
        v = code // rng
        if v >> n:  # only a corrupt payload gets here
            error = CORRUPT
            v = 0
        code -= v * rng
        value = (value << n) | v
        while rng < TOP:
            byte, pos, error = _next_byte(data, pos, end, error)
            rng <<= 8
            code = ((code << 8) | byte) & 0xFFFFFFFF
    return value, (code, rng, pos, error)


@njit(inline="always", cache=True)
def _decode_signed(d, data, end, probs, rates, model, kp):  # type: ignore[no-untyped-def]
    other, d = _decode_bit(d, data, end, probs, rates, model + EQUAL + kp)
    k = kp
    if other:
        above = 1 if kp == 0 else 0
        if 0 < kp < CLASSES - 1:
            above, d = _decode_bit(d, data, end, probs, rates, model + ABOVE + kp)
        if above:
            last, unary = CLASSES - 2 - kp, model + UP
        else:
            last, unary = kp - 1, model + DOWN
        dist = 0
        while dist < last:
            more, d = _decode_bit(d, data, end, probs, rates, unary + dist)
            if not more:
                break
            dist += 1
        k = kp + 1 + dist if above else kp - 1 - dist
    if k == 0:
        return 0, d, 0
    negative, d = _decode_bit(d, data, end, probs, rates, model + SIGN + k)
    magnitude = 1
    if k >= 2:
        top, d = _decode_bit(d, data, end, probs, rates, model + MANTISSA + k)
        rest, d = _decode_direct(d, data, end, k - 2)
        magnitude = (1 << (k - 1)) | (top << (k - 2)) | rest
    return (-magnitude if negative else magnitude), d, k


@njit(cache=True)
def decode_run(data, start, count, differences, ranges, azimuths, elevations, intensity):  # type: ignore[no-untyped-def]
    """Decode one payload of ``count`` points starting at ``data[start]`` into the arrays (int64; the first
    point's residuals are 0). Returns (error, the position after the payload's last byte read)."""
    probs = np.full(MODEL_SIZE, PROB_INIT, np.int64)
    rates = np.full(MODEL_SIZE, RATE_MIN, np.int64)
    end = len(data)
    code = 0
    pos = start
    error = OK
    for _ in range(4):
        byte, pos, error = _next_byte(data, pos, end, error)
        code = (code << 8) | byte
    d = (code, 0xFFFFFFFF, pos, error)
    r1 = r2 = a1 = a2 = e1 = e2 = i1 = i2 = 0
    for i in range(count):
        if i > 0:
            r, d, k = _decode_signed(d, data, end, probs, rates, 0, _predicted(r1, r2))
            r2, r1 = r1, k
            a, d, k = _decode_signed(d, data, end, probs, rates, SIGNED_MODEL, _predicted(a1, a2))
            a2, a1 = a1, k
            e, d, k = _decode_signed(d, data, end, probs, rates, 2 * SIGNED_MODEL, _predicted(e1, e2))
            e2, e1 = e1, k
            ranges[i], azimuths[i], elevations[i] = r, a, e
        else:
            ranges[i] = azimuths[i] = elevations[i] = 0
        if differences:
            v, d, k = _decode_signed(d, data, end, probs, rates, INTENSITY_MODELS, _predicted(i1, i2))
            i2, i1 = i1, k
        else:
            node = 1
            for _ in range(8):
                bit, d = _decode_bit(d, data, end, probs, rates, INTENSITY_MODELS + node)
                node = node * 2 + bit
            v = node - 256
        intensity[i] = v
        if d[3] != OK:
            return d[3], d[2]
    return d[3], d[2]


def encode(ranges: np.ndarray, azimuths: np.ndarray, elevations: np.ndarray, intensity: np.ndarray,
           firsts: np.ndarray, counts: np.ndarray, differences: bool) -> list[bytes]:
    """The payload of each run of points (residuals int64; ``intensity`` bytes, or differences from -128
    to 127 when ``differences``)."""
    out = np.empty(MAX_BYTES_PER_POINT * len(ranges) + 8 * len(firsts), np.uint8)
    sizes = np.zeros(len(firsts), np.int64)
    total = encode_runs(ranges, azimuths, elevations, intensity.astype(np.int64), firsts.astype(np.int64),
                        counts.astype(np.int64), bool(differences), out, sizes)
    edges = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    raw = out[:total].tobytes()
    return [raw[a:b] for a, b in zip(edges[:-1], edges[1:])]


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
