"""Intensity to 0..1, by what the data is: its type, then its values.

Sensors and files use many scales: 0..1 floats (some overshoot: a public KITTI-like set has maxima of
1.19), 0..255 in floats or bytes, 0..65535 in 16-bit integers (often holding 0..255 values). The scale
is chosen from the field's type first, then from the values' maximum; ``--intensity-scale MAX`` fixes it.
Sources log the scale they assumed once, so a wrong guess is visible.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

#: A float field whose maximum is at most this is a 0..1 scale that overshoots (calibrated reflectance).
UNIT_OVERSHOOT = 2.0


def assumed_scale(values: np.ndarray) -> float:
    """The value that stands for full intensity in ``values`` (a field as read, any numeric dtype)."""
    if values.size == 0:
        return 1.0
    top = float(np.nanmax(values)) if values.dtype.kind == "f" else float(values.max())
    if values.dtype.kind in "iu":
        bits = values.dtype.itemsize * 8 - (1 if values.dtype.kind == "i" else 0)
        return 255.0 if top <= 255 else float(2 ** bits - 1)
    if not np.isfinite(top) or top <= UNIT_OVERSHOOT:
        return 1.0
    if top <= 255.0:
        return 255.0
    if top <= 65535.0:
        return 65535.0
    return top


def to_unit(values: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
    """``values`` as float32 in 0..1 (clipped), and the scale used: ``scale`` if given, else assumed_scale."""
    used = assumed_scale(values) if scale is None else float(scale)
    if not used > 0:
        raise ValueError(f"intensity scale must be > 0, got {used}")
    out = np.asarray(values, dtype=np.float32) / np.float32(used)
    np.nan_to_num(out, copy=False, nan=0.0)  # a point without an intensity keeps its place
    np.clip(out, 0.0, 1.0, out=out)
    return out, used


def describe_scale(scale: float) -> str:
    return "0..1" if scale == 1.0 else f"0..{scale:g}"


@dataclass
class SourceScale:
    """The one intensity scale of a source's pass: the one given, else the first one assumed from data with
    intensity (frames must not flicker between guesses). Said in the log once per source."""

    given: float | None
    subject: str
    """Whose scale the log line names (a folder, a topic)."""
    said: bool = False

    def settle(self, current: float | None, used: float, origin: str, has_intensity: bool = True) -> float | None:
        """The pass's scale after a frame read on ``current`` (None: not settled yet) that used ``used``;
        ``origin`` names that frame for the log."""
        scale = current if current is not None or not has_intensity else used
        if scale is not None and not self.said:
            self.said = True
            how = "given" if self.given is not None else f"assumed from {origin}"
            logger.info("%s: intensity scale %s (%s; --intensity-scale overrides)", self.subject,
                        describe_scale(scale), how)
        return scale
