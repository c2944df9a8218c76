"""``sensor_msgs/PointCloud2`` (ROS 1 and ROS 2) to N × 4 float32 points.

Takes the message as the bag and MCAP libraries deserialise it (any object with the message's fields),
and reads it as it really comes: any ``point_step`` and padding, rows padded to ``row_step``, fields of
any numeric type, big-endian data, organised clouds whose missing points are NaN (dropped), intensity
under its usual names or absent (0), colour where it has some, other fields ignored. Raises ValueError
saying what is wrong.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .colours import colours_of
from .intensity import to_unit
from .source import MAX_FRAME_POINTS, with_colours

#: sensor_msgs/PointField datatypes.
DATATYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
INTENSITY_FIELDS = ("intensity", "reflectivity", "i", "reflectance", "remission", "signal")
"""Names intensity goes by, in order of preference."""


def field_dtype(msg: Any) -> np.dtype:
    """The structured dtype of one point: each named field at its offset, ``point_step`` bytes in all."""
    order = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for field in msg.fields:
        kind = DATATYPES.get(int(field.datatype))
        if kind is None:
            raise ValueError(f"field {field.name!r} has unknown datatype {field.datatype}")
        count = max(1, int(field.count))
        size = np.dtype(kind).itemsize * count
        if field.offset < 0 or field.offset + size > msg.point_step:
            raise ValueError(f"field {field.name!r} at offset {field.offset} does not fit a {msg.point_step}-byte "
                             "point")
        if field.name in names or not field.name:
            continue  # duplicates and unnamed padding: only the first is read
        names.append(field.name)
        formats.append((order + kind, (count,)) if count > 1 else order + kind)
        offsets.append(int(field.offset))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": int(msg.point_step)})


def intensity_field(names: tuple[str, ...]) -> str | None:
    return next((n for n in INTENSITY_FIELDS if n in names), None)


def read_pointcloud2(msg: Any, intensity_scale: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The message's points (N × 4 float32, intensity 0..1, non-finite points dropped), their colours (N × 3
    uint8 from ``rgb``/``rgba`` or ``r``/``g``/``b`` fields; None without) and the intensity scale used
    (``intensity_scale``, or the one assumed from the data; 1.0 when there is no intensity)."""
    width, height, step = int(msg.width), int(msg.height), int(msg.point_step)
    count = width * height
    if count > MAX_FRAME_POINTS:
        raise ValueError(f"{count} points: more than the {MAX_FRAME_POINTS} a frame may hold")
    if step <= 0:
        raise ValueError(f"point_step is {step}")
    row_step = int(msg.row_step) or width * step
    if row_step < width * step:
        raise ValueError(f"row_step {row_step} is shorter than {width} points of {step} bytes")
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, (bytes, np.ndarray)) else msg.data,
                         dtype=np.uint8)
    if data.size < row_step * (height - 1) + width * step:
        raise ValueError(f"data holds {data.size} bytes, the header says {height} rows of {row_step} bytes "
                         f"({width} points of {step} bytes each)")
    dtype = field_dtype(msg)
    missing = [axis for axis in "xyz" if axis not in (dtype.names or ())]
    if missing:
        raise ValueError(f"no {', '.join(missing)} field (fields: {', '.join(dtype.names or ())})")
    rows = np.lib.stride_tricks.as_strided(data, shape=(height, width * step), strides=(row_step, 1))
    points = np.ascontiguousarray(rows).view(dtype).reshape(-1)
    xyz = np.stack([points[axis].astype(np.float32).reshape(-1) for axis in "xyz"], axis=1)
    colours = colours_of(points)
    name = intensity_field(dtype.names or ())
    if name is None:
        return (*with_colours(xyz, colours), 1.0)
    values = points[name].reshape(len(points), -1)[:, 0]
    intensity, used = to_unit(values, intensity_scale)
    return (*with_colours(np.concatenate([xyz, intensity[:, None]], axis=1), colours), used)
