"""How every viewer of one streamer is served, whatever its transport: one object, passed down whole."""
from __future__ import annotations

from dataclasses import dataclass, field

from rtc.sctp_congestion import LossToleranceOptions
from stream.broadcaster import FrameBroadcaster
from stream.link_fit import FitOptions
from stream.sender import PacingOptions

from .outbox import OutboxLimits

DEFAULT_MAX_VIEWERS = 16
"""Viewers a streamer takes at once (--max-viewers); the next gets 503."""


@dataclass(frozen=True)
class ViewerSettings:
    """What the streamer gives each viewer and expects of it."""

    broadcaster: FrameBroadcaster
    """The running stream every viewer is fed from."""
    pacing: PacingOptions = field(default_factory=PacingOptions)
    """How a frame's chunks are spread over the frame interval."""
    loss_tolerance: LossToleranceOptions | None = field(default_factory=LossToleranceOptions)
    """Congestion response of an unreliable point channel to random loss; None: standard SCTP."""
    fit: FitOptions = field(default_factory=FitOptions)
    """How much of each frame each viewer gets, from what its link carries."""
    max_viewers: int | None = DEFAULT_MAX_VIEWERS
    """Viewers at once, all transports; the next is refused with 503. None: no limit."""
    connect_timeout: float = 30.0
    """Seconds a peer connection may take to connect before it is closed."""
    silence_timeout: float | None = 15.0
    """Seconds a connected WebRTC viewer may say nothing on its control channel before it is closed."""
    stats_interval: float = 1.0
    """Seconds between the sender statistics each viewer is sent."""
    outbox: OutboxLimits = field(default_factory=OutboxLimits)
    """What may wait for a viewer that does not read before it is cut off."""
