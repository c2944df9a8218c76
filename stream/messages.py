"""The control messages (JSON text on the reliable ``control`` channel, or text frames on ``/ws``), typed.

Every shape and field is in docs/protocol.md ("Control messages"); client/src/messages.js declares the
same ones for the browser. Field names on the wire are camelCase; a parser ignores fields it does not
know, so either side can add one without breaking the other, and refuses, with a ``ValueError`` that
says why, a message that is not JSON, too long or deep, of an unknown type, or with a known field of the
wrong type.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .untrusted_json import loads_bounded

MAX_CONTROL_MESSAGE = 16 * 1024
"""Characters a viewer's control message may have."""
MAX_ECHOED_ID = 64
"""Characters of a ping's string id that a pong echoes."""


def camel(name: str) -> str:
    """``frames_sent`` → ``framesSent``: Python's field names as they are on the wire."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def wire_fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields under their wire (camelCase) names."""
    return {camel(f.name): getattr(obj, f.name) for f in fields(obj)}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ----------------------------------------------------------------------------- viewer → server
@dataclass(frozen=True)
class Ping:
    """A clock sample request; answered at once with a Pong."""

    type: ClassVar[str] = "ping"
    id: int | float | str | None = None
    """Chosen by the viewer and echoed: a number or a string of at most MAX_ECHOED_ID characters."""
    t0: float | None = None
    """The viewer's clock when it sent the ping, seconds."""


@dataclass(frozen=True)
class ViewerStats:
    """What the viewer measures, once a second in answer to SenderStats; shown in /stats as it came."""

    type: ClassVar[str] = "viewerStats"
    fields: dict[str, Any] = field(default_factory=dict)
    """Every field but ``type`` (docs/protocol.md lists them)."""


@dataclass(frozen=True)
class Pause:
    """Send this viewer no point chunks until it resumes."""

    type: ClassVar[str] = "pause"


@dataclass(frozen=True)
class Resume:
    type: ClassVar[str] = "resume"


@dataclass(frozen=True)
class SfuAnswer:
    """Through the SFU: the viewer's answer to the ``sfuOffer`` Janus made for it."""

    type: ClassVar[str] = "sfuAnswer"
    sdp: str


ViewerMessage = Ping | ViewerStats | Pause | Resume | SfuAnswer
MAX_SDP = 12 * 1024
"""Characters of an SDP answer a viewer may send through the SFU."""


def parse_viewer_message(text: str | bytes) -> ViewerMessage:
    """One viewer → server control message; ValueError saying why it cannot be used."""
    if isinstance(text, bytes):
        raise ValueError("control messages are JSON text, got binary")
    message = loads_bounded(text, MAX_CONTROL_MESSAGE, "control message")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError("control message must be a JSON object with a string 'type'")
    kind = message["type"]
    if kind == Ping.type:
        ping_id, t0 = message.get("id"), message.get("t0")
        if not (ping_id is None or _number(ping_id) or (isinstance(ping_id, str) and len(ping_id) <= MAX_ECHOED_ID)):
            raise ValueError(f"ping 'id' must be a number or a string of at most {MAX_ECHOED_ID} characters")
        if not (t0 is None or _number(t0)):
            raise ValueError("ping 't0' must be a number")
        return Ping(ping_id, t0)
    if kind == ViewerStats.type:
        return ViewerStats({k: v for k, v in message.items() if k != "type"})
    if kind == Pause.type:
        return Pause()
    if kind == Resume.type:
        return Resume()
    if kind == SfuAnswer.type:
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
            raise ValueError(f"sfuAnswer 'sdp' must be an SDP text of at most {MAX_SDP} characters")
        return SfuAnswer(sdp)
    raise ValueError(f"unknown control message type {kind!r}")


# ----------------------------------------------------------------------------- server → viewer
@dataclass(frozen=True)
class Hello:
    """Sent once, when the viewer's channels are open: what the stream is and how the viewer is connected."""

    type: ClassVar[str] = "hello"
    source: str
    frames: int
    """Frames in one pass over the source."""
    fps: float
    encoding: str
    """``float32`` or ``spherical``."""
    quantize_mm: float
    viewer: int
    """This viewer's id on the streamer (as in /stats)."""
    transport: str
    """``webrtc`` or ``websocket``."""
    points_channel: dict[str, Any] | None = None
    """WebRTC: how the point channel was opened (``ordered``, ``maxRetransmits``, ``maxPacketLifeTime``)."""


@dataclass(frozen=True)
class Pong:
    type: ClassVar[str] = "pong"
    id: int | float | str | None
    t0: float | None
    server_time: float
    """The streamer's clock when it answered, seconds."""


@dataclass
class SenderCounters:
    """One viewer's sender counters: kept by its sender (stream/sender.py, ``SenderStats``), shown in /stats and
    sent to the viewer (``senderStats``, ``end``). Declared once, here, as the wire carries them."""

    frames_sent: int = 0
    frames_skipped: int = 0
    """Frames this viewer never got because its link was still busy with an older one."""
    chunks_sent: int = 0
    bytes_sent: int = 0
    points_sent: int = 0
    points_offered: int = 0
    """Points of the frames sent, whole; with ``points_sent``, the share the link fit let through."""
    fitted_share: float = 1.0
    """Share of the last frame's chunks this viewer was sent (1 when the whole frame went)."""
    rate_estimate_mbit: float = 0.0
    """The sender's estimate of this viewer's path, Mbit/s; 0 when frames are not fitted to the link."""
    rate_decreases: int = 0
    rate_increases: int = 0
    viewer_share: float = 1.0
    """Largest share of a frame this viewer keeps up with drawing, from its own reports."""


@dataclass
class SenderStatsMessage(SenderCounters):
    """This viewer's sender counters, once a second (``senderStats``), and once more when a finite stream ends
    (``end``). Not frozen, unlike the other messages: it extends the counters, which the sender updates."""

    type: ClassVar[str] = "senderStats"
    server_time: float | None = None


@dataclass
class End(SenderStatsMessage):
    """A non-looping source has been sent completely; the final counters."""

    type: ClassVar[str] = "end"


@dataclass(frozen=True)
class SfuOffer:
    """Through the SFU: Janus's offer for this viewer; the viewer answers with ``sfuAnswer``, opening the
    point channel itself under ``label`` (the one Janus sends on), unordered and without retransmissions."""

    type: ClassVar[str] = "sfuOffer"
    sdp: str
    label: str
    tier: int
    """The mountpoint (tier) the viewer starts on."""
    share: float
    """That tier's share of each frame."""


@dataclass(frozen=True)
class SfuTier:
    """Through the SFU: the viewer was moved to another tier (a larger or smaller share of each frame)."""

    type: ClassVar[str] = "sfuTier"
    tier: int
    share: float
    reason: str


ServerMessage = Hello | Pong | SenderStatsMessage | End | SfuOffer | SfuTier
SFU_DROPPED = 1008
"""The close code of ``/sfu`` when the server drops a viewer that fell behind or silent; the viewer reconnects."""


def encode(message: ServerMessage | ViewerMessage) -> str:
    """The message as compact JSON text, camelCase, with its ``type`` first; None fields left out."""
    if isinstance(message, ViewerStats):
        body = dict(message.fields)
    else:
        body = {k: v for k, v in wire_fields(message).items() if v is not None}
    return json.dumps({"type": message.type, **body}, separators=(",", ":"))
