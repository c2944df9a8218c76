"""Point payload codecs: how one chunk's points become the bytes after its header (docs/protocol.md)."""
