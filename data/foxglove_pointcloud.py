"""``foxglove.PointCloud`` (Foxglove's own schema, protobuf in MCAP) to N × 4 float32 points.

The message packs points like PointCloud2 (a stride, named fields at offsets) but always little-endian,
with its own numbering of the numeric types and a pose placing the points in their frame. It is read
through the PointCloud2 reader (data/pointcloud2.py), and the pose is applied.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .pointcloud2 import read_pointcloud2

#: foxglove.PackedElementField.NumericType → sensor_msgs/PointField datatype.
POINTFIELD_TYPE = {1: 2, 2: 1, 3: 4, 4: 3, 5: 6, 6: 5, 7: 7, 8: 8}


@dataclass(frozen=True)
class _Field:
    name: str
    offset: int
    datatype: int
    count: int = 1


@dataclass(frozen=True)
class _AsPointCloud2:
    """The PointCloud2 fields read_pointcloud2 reads."""

    fields: list[_Field]
    point_step: int
    width: int
    data: bytes
    height: int = 1
    is_bigendian: bool = False

    @property
    def row_step(self) -> int:
        return self.width * self.point_step


def read_foxglove_pointcloud(msg: Any, intensity_scale: float | None = None
                             ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The message's points in its frame (the pose applied), their colours (``red``/``green``/``blue``
    fields) and the intensity scale used. ValueError for a message that does not hold together."""
    stride = int(msg.point_stride)
    if stride <= 0:
        raise ValueError(f"point_stride is {stride}")
    data = bytes(msg.data)
    if len(data) % stride:
        raise ValueError(f"data holds {len(data)} bytes, not a whole number of {stride}-byte points")
    fields = []
    for field in msg.fields:
        datatype = POINTFIELD_TYPE.get(int(field.type))
        if datatype is None:
            raise ValueError(f"field {field.name!r} has unknown numeric type {field.type}")
        fields.append(_Field(field.name, int(field.offset), datatype))
    points, colours, scale = read_pointcloud2(_AsPointCloud2(fields, stride, len(data) // stride, data),
                                              intensity_scale)
    if msg.HasField("pose"):
        points[:, :3] = posed(points[:, :3], msg.pose)
    return points, colours, scale


def posed(xyz: np.ndarray, pose: Any) -> np.ndarray:
    """``xyz`` rotated by the pose's orientation (a unit quaternion), then moved by its position."""
    q = pose.orientation
    w, x, y, z = (q.w, q.x, q.y, q.z) if any((q.w, q.x, q.y, q.z)) else (1.0, 0.0, 0.0, 0.0)
    norm = np.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                         [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                         [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    p = pose.position
    return (xyz.astype(np.float64) @ rotation.T + np.array([p.x, p.y, p.z])).astype(np.float32)
