"""The entropy coder of every payload: one Zstandard frame that declares its size.

Decoding is strict, because the bytes come from the network: the frame must declare exactly the size
the chunk header implies (so nothing larger is ever allocated), decode to exactly that, and end where
the message ends.
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


def compress(raw: bytes) -> bytes:
    return _compressor.compress(raw)


def decompress_exact(payload: bytes | memoryview, expected: int) -> bytes:
    """The bytes of one zstd frame that must decode to ``expected`` bytes and fill ``payload`` exactly.

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
