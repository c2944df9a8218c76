"""The entropy coder of FLOAT32 payloads and of colour planes: one Zstandard frame that declares its size.

A payload is written in sections (byte planes, say), each ending a zstd block, so each gets its own
Huffman table. Any zstd decoder reads the frame; the sections are only how the encoder chose to cut it.
(SPHERICAL payloads have their own coder, codec/range_coding.py: in a chunk of a thousand points zstd's
tables cost more bits than a coder that learns as it goes; docs/design.md, "The point codec".)

Decoding is strict, because the bytes come from the network: the frame must declare a size within what
the chunk header allows (so nothing larger is ever allocated), decode to exactly that, and end where the
message ends.
"""
from __future__ import annotations

import zstandard

#: Level 3 is zstd's default; measured against 1, 6 and 9 in docs/design.md ("The point codec").
LEVEL = 3
#: Our payloads are under 64 KiB, so no honest frame asks for a larger window; a hostile one cannot make us
#: allocate more.
MAX_WINDOW = 1 << 20

_compressor = zstandard.ZstdCompressor(level=LEVEL, write_content_size=True, write_checksum=False)
_decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)


def compress(*sections: bytes) -> bytes:
    """One zstd frame holding the ``sections`` one after another, each ending a block."""
    if len(sections) == 1:
        return _compressor.compress(sections[0])
    stream = _compressor.compressobj(size=sum(len(s) for s in sections))
    out = [piece for section in sections if section
           for piece in (stream.compress(section), stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))]
    return b"".join(out) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


def decompress_exact(payload: bytes | memoryview, expected: int) -> bytes:
    """The bytes of one zstd frame that must declare and decode to exactly ``expected`` bytes and fill
    ``payload`` exactly.

    Raises ValueError for anything else.
    """
    try:
        declared = zstandard.frame_content_size(payload)
    except zstandard.ZstdError as exc:
        raise ValueError(f"corrupt zstd frame: {exc}") from None
    if declared != expected:
        raise ValueError(f"zstd frame declares {declared} bytes, the header implies {expected}")
    reader = _decompressor.decompressobj()
    try:
        raw = reader.decompress(bytes(payload))
    except zstandard.ZstdError as exc:
        raise ValueError(f"corrupt zstd frame: {exc}") from None
    if not reader.eof:
        raise ValueError("zstd frame is cut off")
    if reader.unused_data:
        raise ValueError(f"{len(reader.unused_data)} bytes after the zstd frame")
    if len(raw) != expected:
        raise ValueError(f"payload decodes to {len(raw)} bytes, expected {expected}")
    return raw
