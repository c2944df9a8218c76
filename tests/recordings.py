"""Recordings for the tests, written by the libraries robotics users write them with: ROS 1 bags and
ROS 2 bags (sqlite3 and MCAP storage) by ``rosbags``, bare MCAP files by ``mcap``. The PointCloud2
layouts are the ones real drivers send (padding, float64, big-endian, organised with NaN holes, other
names for intensity, extra fields)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag1 import Writer as Bag1Writer
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Bag2Writer
from rosbags.typesys import Stores, get_typestore

PC2 = "sensor_msgs/msg/PointCloud2"
ROS1 = get_typestore(Stores.ROS1_NOETIC)
ROS2 = get_typestore(Stores.ROS2_HUMBLE)
DATATYPE = {"i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "f4": 7, "f8": 8}


@dataclass(frozen=True)
class Layout:
    """How a cloud's points are laid out: fields (name, numpy kind) in order, padding after each."""

    fields: tuple[tuple[str, str], ...] = (("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "f4"))
    pad: int = 0
    """Bytes of padding after every field (drivers align to 8 or 16)."""
    big_endian: bool = False
    height: int = 1
    row_pad: int = 0
    """Bytes of padding at the end of each row."""
    intensity_max: float = 255.0
    """The intensity value for 1.0 (the field's scale)."""


def encode_cloud(typestore: Any, points: np.ndarray, layout: Layout, stamp_ns: int) -> Any:
    """A PointCloud2 of ``points`` (N × 4 float32, intensity 0..1; NaN rows are holes) laid out as said."""
    order = ">" if layout.big_endian else "<"
    names, formats, offsets, offset = [], [], [], 0
    for name, kind in layout.fields:
        names.append(name)
        formats.append(order + kind if kind not in ("i1", "u1") else kind)
        offsets.append(offset)
        offset += np.dtype(kind).itemsize + layout.pad
    step = offset
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": step})
    cloud = np.zeros(len(points), dtype=dtype)
    for k, axis in enumerate("xyz"):
        cloud[axis] = points[:, k]
    for name, kind in layout.fields:
        if name not in "xyz" and name in ("intensity", "reflectivity", "i"):
            cloud[name] = points[:, 3] * layout.intensity_max if kind[0] == "f" else np.rint(
                np.nan_to_num(points[:, 3]) * layout.intensity_max)
        elif name not in "xyz":
            cloud[name] = np.arange(len(points)) % 64  # ring, time: ignored by the reader
    width = len(points) // layout.height
    rows = cloud.view(np.uint8).reshape(layout.height, width * step)
    data = np.concatenate([rows, np.zeros((layout.height, layout.row_pad), np.uint8)], axis=1).reshape(-1)
    types = typestore.types
    fields = [types["sensor_msgs/msg/PointField"](name=n, offset=o, datatype=DATATYPE[k], count=1)
              for (n, k), o in zip(layout.fields, offsets)]
    stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    header_type = types["std_msgs/msg/Header"]
    extra = {"seq": 0} if "seq" in header_type.__dataclass_fields__ else {}
    header = header_type(stamp=stamp, frame_id="lidar", **extra)
    return types[PC2](header=header, height=layout.height, width=width, fields=fields,
                      is_bigendian=layout.big_endian, point_step=step, row_step=width * step + layout.row_pad,
                      data=data, is_dense=not np.isnan(points).any())


@dataclass
class Message:
    topic: str
    time_ns: int
    msg: Any = None
    """A message object of the bag's typestore, or None with ``raw`` set."""
    raw: bytes | None = None
    msgtype: str = PC2


def write_recording(path: Path, kind: str, messages: Sequence[Message]) -> Path:
    """Write ``messages`` as a ROS 1 bag (kind "bag1"), a ROS 2 bag folder ("sqlite3" or "mcap" storage) or
    a bare MCAP file ("mcap-file"); returns what --source takes."""
    ros1 = kind == "bag1"
    typestore = ROS1 if ros1 else ROS2

    def raw(m: Message) -> bytes:
        if m.raw is not None:
            return m.raw
        return bytes(typestore.serialize_ros1(m.msg, m.msgtype) if ros1 else typestore.serialize_cdr(m.msg,
                                                                                                     m.msgtype))
    topics = {m.topic: m.msgtype for m in messages}
    if kind == "mcap-file":
        from mcap.writer import Writer
        with path.open("wb") as f:
            writer = Writer(f)
            writer.start(profile="ros2", library="tests")
            channels = {}
            for topic, msgtype in topics.items():
                schema = writer.register_schema(name=msgtype, encoding="ros2msg",
                                                data=ROS2.generate_msgdef(msgtype, ros_version=2)[0].encode())
                channels[topic] = writer.register_channel(topic=topic, message_encoding="cdr", schema_id=schema)
            for m in messages:
                writer.add_message(channels[m.topic], log_time=m.time_ns, data=raw(m), publish_time=m.time_ns)
            writer.finish()
        return path
    if ros1:
        with Bag1Writer(path) as writer:
            connections = {t: writer.add_connection(t, msgtype, typestore=ROS1) for t, msgtype in topics.items()}
            for m in messages:
                writer.write(connections[m.topic], m.time_ns, raw(m))
        return path
    plugin = StoragePlugin.SQLITE3 if kind == "sqlite3" else StoragePlugin.MCAP
    with Bag2Writer(path, version=9, storage_plugin=plugin) as writer:
        connections = {t: writer.add_connection(t, msgtype, typestore=ROS2) for t, msgtype in topics.items()}
        for m in messages:
            writer.write(connections[m.topic], m.time_ns, raw(m))
    return path


def typestore_for(kind: str) -> Any:
    return ROS1 if kind == "bag1" else ROS2
