"""``--record out.mcap``: the frames as they are streamed, written as standard MCAP that Foxglove and the
ROS tools open: ``sensor_msgs/msg/PointCloud2`` messages (CDR, fields x, y, z, intensity as float32,
intensity 0..1, and, for a source with colours, ``rgb`` packed in a float32 as PCL does) on the topic
``/points``, timestamped with the frames' capture times.

The file is written in compressed, indexed chunks (``mcap``); the index is written at close. Each frame
ends a chunk and is flushed, so a streamer killed mid-write leaves a file that reads back up to its last
complete frame. Writing happens on a thread of its own behind a short queue: a slow disk drops frames
from the recording (counted, logged), never from the stream, and a write error (a full disk) stops the
recording with a logged error while the stream goes on.
"""
from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

logger = logging.getLogger(__name__)

TOPIC = "/points"
FRAME_ID = "lidar"
MSGTYPE = "sensor_msgs/msg/PointCloud2"
QUEUE_FRAMES = 4
"""Frames waiting to be written at most; more are dropped from the recording."""
CHUNK_SIZE = 1
"""Bytes after which mcap closes a chunk: 1, so each frame is a chunk of its own (frames are hundreds of
kilobytes: nothing is gained by grouping them) and a killed writer loses at most the frame being written."""


class RecordingError(Exception):
    """The recording cannot be started (the path is unwritable, or exists). The message says why."""


def check_writable(path: Path) -> None:
    """Raise RecordingError unless ``path`` is a new file that can be created (tried, then removed)."""
    if path.exists():
        raise RecordingError(f"{path} exists: the recording would overwrite it (choose another name)")
    try:
        with path.open("xb"):
            pass
        path.unlink()
    except OSError as exc:
        raise RecordingError(f"cannot write {path}: {exc.strerror or exc}") from None


class McapRecorder:
    """``write(capture_time, points)`` from the producer; ``close()`` writes the index."""

    def __init__(self, path: Path) -> None:
        from mcap.writer import CompressionType, Writer
        from rosbags.typesys import Stores, get_typestore

        self.path = path
        self.typestore = get_typestore(Stores.ROS2_HUMBLE)
        self.file: IO[bytes] = path.open("xb")
        self.writer = Writer(self.file, chunk_size=CHUNK_SIZE, compression=CompressionType.ZSTD)
        self.writer.start(profile="ros2", library="pointstream")
        msgdef, _ = self.typestore.generate_msgdef(MSGTYPE, ros_version=2)
        schema = self.writer.register_schema(name=MSGTYPE, encoding="ros2msg", data=msgdef.encode())
        self.channel = self.writer.register_channel(topic=TOPIC, message_encoding="cdr", schema_id=schema)
        self.frames = 0
        self.dropped = 0
        self.failed: str | None = None
        self._queue: queue.Queue[tuple[float, np.ndarray, np.ndarray | None] | None] = queue.Queue(QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._run, name="mcap-recorder", daemon=True)
        self._thread.start()
        logger.info("recording the stream to %s (topic %s, %s)", path, TOPIC, MSGTYPE)

    def write(self, capture_time: float, points: np.ndarray, colours: np.ndarray | None = None) -> None:
        """Queue a frame (N × 4 float32, N × 3 uint8 colours or None); dropped from the recording when the
        writer is behind or stopped."""
        if self.failed is not None:
            return
        try:
            self._queue.put_nowait((capture_time, points, colours))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                logger.warning("recording: %d frames dropped so far (the disk is slower than the stream)",
                               self.dropped)

    def close(self) -> None:
        """Write what is queued and the index; the file is complete after this."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self.failed is None:
            try:
                self.writer.finish()
            except OSError as exc:
                logger.error("recording to %s: could not write the index: %s", self.path, exc)
        self.file.close()
        logger.info("recording %s closed: %d frames%s", self.path, self.frames,
                    f", {self.dropped} dropped" if self.dropped else "")

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._write(*item)
            except Exception as exc:  # a full disk, a vanished mount: the stream goes on unrecorded
                self.failed = str(exc)
                logger.error("recording to %s stopped after %d frames: %s", self.path, self.frames, exc)
                return

    def _write(self, capture_time: float, points: np.ndarray, colours: np.ndarray | None) -> None:
        ns = int(capture_time * 1e9)
        data = self.typestore.serialize_cdr(self._message(points, colours, ns), MSGTYPE)
        self.writer.add_message(self.channel, log_time=ns, data=bytes(data), publish_time=ns, sequence=self.frames)
        self.file.flush()
        self.frames += 1

    def _message(self, points: np.ndarray, colours: np.ndarray | None, ns: int) -> Any:
        types = self.typestore.types
        names = ("x", "y", "z", "intensity") + (("rgb",) if colours is not None else ())
        fields = [types["sensor_msgs/msg/PointField"](name=name, offset=4 * k, datatype=7, count=1)
                  for k, name in enumerate(names)]
        stamp = types["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
        header = types["std_msgs/msg/Header"](stamp=stamp, frame_id=FRAME_ID)
        rows = np.empty((len(points), len(names)), dtype="<f4")
        rows[:, :4] = points
        if colours is not None:
            c = colours.astype(np.uint32)
            rows[:, 4] = ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).astype("<u4").view("<f4")
        step = 4 * len(names)
        return types[MSGTYPE](header=header, height=1, width=len(points), fields=fields, is_bigendian=False,
                              point_step=step, row_step=step * len(points), data=rows.view(np.uint8).reshape(-1),
                              is_dense=True)
