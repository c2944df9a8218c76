"""Per-point colour as sources store it, to N × 3 uint8 (red, green, blue).

Packed ``rgb``/``rgba`` fields hold 0x00RRGGBB in the bits of a float32 or uint32, as PCL writes them
(PCD files, PointCloud2); separate ``red``/``green``/``blue`` (or ``r``/``g``/``b``) fields hold bytes, or
floats in 0..1 (PLY files, foxglove.PointCloud). Anything else: no colour.
"""
from __future__ import annotations

import numpy as np

PACKED = ("rgb", "rgba")
SEPARATE = (("red", "green", "blue"), ("r", "g", "b"))


def colours_of(fields: np.ndarray) -> np.ndarray | None:
    """The colours of the structured array ``fields`` (one record per point), or None when it has none."""
    names = fields.dtype.names or ()
    packed = next((n for n in PACKED if n in names), None)
    if packed is not None:
        values = np.ascontiguousarray(fields[packed]).reshape(len(fields), -1)[:, 0]
        if values.dtype.kind == "f":
            values = values.astype("<f4").view("<u4")  # the bits of the float are the colour
        values = values.astype(np.uint32)
        return np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1).astype(np.uint8)
    for red, green, blue in SEPARATE:
        if red in names and green in names and blue in names:
            planes = [np.asarray(fields[n]).reshape(len(fields), -1)[:, 0] for n in (red, green, blue)]
            if all(p.dtype.kind == "f" for p in planes) and max((float(np.nanmax(p)) for p in planes if p.size),
                                                                default=0.0) <= 1.0:
                planes = [p * 255.0 for p in planes]
            return np.stack([np.clip(np.nan_to_num(p), 0, 255) for p in planes], axis=1).astype(np.uint8)
    return None
