"""Recorded robot data: ROS 1 bags, ROS 2 bags (sqlite3 or MCAP storage) and MCAP files, streaming the
``sensor_msgs/PointCloud2`` (or, in MCAP, ``foxglove.PointCloud``) messages of one topic, paced by their
recorded times.

Bags are read with ``rosbags`` (no ROS installation needed); MCAP files with ``mcap`` and its ROS 1,
ROS 2 and protobuf decoders, record by record, so a file whose writer was killed reads up to its last complete chunk.
A message that cannot be read is skipped with a warning naming topic and time; a file that ends early
ends the pass with a warning.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cut import describe_cut, place
from .foxglove_pointcloud import read_foxglove_pointcloud
from .intensity import SourceScale
from .pointcloud2 import read_pointcloud2
from .source import Frame, FrameSource, SourceError

logger = logging.getLogger(__name__)

POINT_CLOUD_TYPES = ("sensor_msgs/msg/PointCloud2", "sensor_msgs/PointCloud2", "foxglove.PointCloud")
MCAP_MAGIC = b"\x89MCAP0\r\n"
RECORD_SIZE_LIMIT = 1 << 28
"""Largest MCAP record read (256 MiB): a corrupt length cannot make us allocate more."""


@dataclass(frozen=True)
class Topic:
    name: str
    msgtype: str
    count: int
    span: float = 0.0
    """Seconds from the recording's first message to its last (all topics)."""


def is_recording(path: Path) -> bool:
    """Whether ``path`` is something this module reads: a .bag, .mcap or .db3 file or a rosbag2 folder."""
    if path.is_dir():
        return (path / "metadata.yaml").is_file()
    return path.suffix.lower() in (".bag", ".mcap", ".db3")


def _is_point_cloud(msgtype: str) -> bool:
    return msgtype in POINT_CLOUD_TYPES


def listing(topics: list[Topic]) -> str:
    return ", ".join(f"{t.name} ({t.count} × {t.msgtype})" for t in topics) or "none"


class RecordingSource(FrameSource):
    """The point clouds of ``topic`` (required when the recording has several point-cloud topics) in
    ``path``. Frame timestamps are the recorded (log) times in seconds."""

    timed = True

    def __init__(self, path: Path, topic: str | None = None, intensity_scale: float | None = None,
                 frames: tuple[float | None, float | None] = (None, None),
                 seconds: tuple[float | None, float | None] = (None, None)) -> None:
        """``frames``, ``seconds``: only the topic's messages at these positions (from 0) and this many seconds
        after its first message (--frames, --time: see data/cut.py), chosen before anything is decoded."""
        if not path.exists():
            raise SourceError(f"no such file or folder: {path}")
        self.path = path
        self.intensity_scale = intensity_scale
        self.mcap = path.is_file() and path.suffix.lower() == ".mcap"
        try:
            topics = self._topics()
        except SourceError:
            raise
        except Exception as exc:  # each library has its own errors for a file that is not what it says
            raise SourceError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
        clouds = [t for t in topics if _is_point_cloud(t.msgtype)]
        if topic is None:
            if not clouds:
                raise SourceError(f"{path} has no PointCloud2 or foxglove.PointCloud topic (topics: "
                                  f"{listing(topics)})")
            if len(clouds) > 1:
                raise SourceError(f"{path} has several point-cloud topics; pick one with --topic "
                                  f"(topics: {listing(clouds)})")
            chosen = clouds[0]
        else:
            chosen = next((t for t in topics if t.name == topic), None)
            if chosen is None:
                raise SourceError(f"{path} has no topic {topic!r} (point-cloud topics: {listing(clouds)})")
            if not _is_point_cloud(chosen.msgtype):
                raise SourceError(f"topic {topic!r} in {path} carries {chosen.msgtype}, not PointCloud2 or "
                                  f"foxglove.PointCloud (point-cloud topics: {listing(clouds)})")
        if chosen.count == 0:
            raise SourceError(f"topic {chosen.name!r} in {path} has no messages")
        self.topic = chosen
        self.topics = topics
        if chosen.count > 1 and chosen.span > 0:
            self.native_fps = (chosen.count - 1) / chosen.span
        self.frames_range, self.seconds = frames, seconds
        self.description = f"{path.name} {chosen.name} ({chosen.count} clouds)" + describe_cut(frames, seconds)
        self._scale = SourceScale(intensity_scale, chosen.name)

    def __len__(self) -> int:
        return self.topic.count

    # -- reading -------------------------------------------------------------------------------------------

    def _topics(self) -> list[Topic]:
        return _mcap_topics(self.path) if self.mcap else _bag_topics(self.path)

    def _messages(self) -> Iterator[tuple[int, Callable[[], Any]]]:
        """(log time in ns, a function returning the deserialised message) for each message of the topic."""
        reader = _mcap_messages if self.mcap else _bag_messages
        return reader(self.path, self.topic.name)

    def frames(self) -> Iterator[Frame]:
        index = 0
        scale = self.intensity_scale
        read = read_foxglove_pointcloud if self.topic.msgtype == "foxglove.PointCloud" else read_pointcloud2
        first: int | None = None
        try:
            for position, (log_time, message) in enumerate(self._messages()):
                first = log_time if first is None else first
                where = place(position, (log_time - first) / 1e9, self.frames_range, self.seconds)
                if where > 0:
                    return
                if where < 0:
                    continue  # skipped before it is decoded: a cut late in a long recording starts at once
                try:
                    points, colours, used = read(message(), scale)
                except Exception as exc:  # a message this reader cannot make sense of: skip it, go on
                    logger.warning("skipping %s at %.6f s: %s", self.topic.name, log_time / 1e9, exc)
                    continue
                scale = self._scale.settle(scale, used, "the first cloud")
                if len(points) == 0:
                    logger.warning("skipping %s at %.6f s: no points", self.topic.name, log_time / 1e9)
                    continue
                yield Frame(index, log_time / 1e9, points, colours)
                index += 1
        except Exception as exc:  # truncated or corrupt from here on: what was read stands
            logger.warning("%s: stopped reading after %d clouds: %s: %s", self.path, index, type(exc).__name__,
                           exc)


def _bag_topics(path: Path) -> list[Topic]:
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        counts: dict[tuple[str, str], int] = {}
        for c in reader.connections:
            counts[(c.topic, c.msgtype)] = counts.get((c.topic, c.msgtype), 0) + c.msgcount
        span = reader.duration / 1e9
    return [Topic(name, msgtype, n, span) for (name, msgtype), n in sorted(counts.items())]


def _bag_messages(path: Path, topic: str) -> Iterator[tuple[int, Callable[[], Any]]]:
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for connection, log_time, raw in reader.messages(connections=connections):
            yield log_time, lambda raw=raw, msgtype=connection.msgtype: reader.deserialize(raw, msgtype)


def _mcap_reader(stream: Any) -> Any:
    from mcap.reader import NonSeekingReader

    return NonSeekingReader(stream, record_size_limit=RECORD_SIZE_LIMIT)


def _decoder_factories() -> list[Any]:
    from mcap_protobuf.decoder import DecoderFactory as ProtobufDecoders
    from mcap_ros1.decoder import DecoderFactory as Ros1Decoders
    from mcap_ros2.decoder import DecoderFactory as Ros2Decoders

    return [Ros2Decoders(), Ros1Decoders(), ProtobufDecoders()]


def _mcap_topics(path: Path) -> list[Topic]:
    """From the summary when the file has one; else by reading it through (a file whose writer was killed)."""
    from mcap.reader import make_reader

    with path.open("rb") as f:
        if f.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
            raise SourceError(f"cannot read {path}: not an MCAP file (it does not start with MCAP's magic bytes)")
        f.seek(0)
        try:
            summary = make_reader(f).get_summary()
        except Exception:  # no footer or summary: the file was cut short
            summary = None
        if summary is not None and summary.statistics is not None:
            stats = summary.statistics
            span = (stats.message_end_time - stats.message_start_time) / 1e9
            return sorted((Topic(c.topic, summary.schemas[c.schema_id].name if c.schema_id in summary.schemas
                                 else "", stats.channel_message_counts.get(c.id, 0), span)
                           for c in summary.channels.values()), key=lambda t: t.name)
    found: dict[tuple[str, str], int] = {}
    first = last = 0
    with path.open("rb") as f:
        try:
            for schema, channel, message in _mcap_reader(f).iter_messages(log_time_order=False):
                key = (channel.topic, schema.name if schema else "")
                found[key] = found.get(key, 0) + 1
                first = min(first or message.log_time, message.log_time)
                last = max(last, message.log_time)
        except Exception as exc:  # cut short: count what is there
            logger.warning("%s ends early (%s): reading the %d messages before that", path, exc,
                           sum(found.values()))
    return [Topic(name, msgtype, n, (last - first) / 1e9) for (name, msgtype), n in sorted(found.items())]


def _mcap_messages(path: Path, topic: str) -> Iterator[tuple[int, Callable[[], Any]]]:
    with path.open("rb") as f:
        factories = _decoder_factories()
        decoders: dict[int, Callable[[bytes], Any]] = {}
        for schema, channel, message in _mcap_reader(f).iter_messages(topics=[topic], log_time_order=False):
            decoder = decoders.get(channel.id)
            if decoder is None:
                decoder = decoders[channel.id] = _decoder_for(factories, channel.message_encoding, schema)
            yield message.log_time, lambda data=message.data, decode=decoder: decode(data)


def _decoder_for(factories: list[Any], encoding: str, schema: Any) -> Callable[[bytes], Any]:
    """The first factory's decoder for these messages; one that raises ValueError (each message is then
    skipped with a warning) when none decodes them."""
    for factory in factories:
        decoder = factory.decoder_for(encoding, schema)
        if decoder is not None:
            return decoder

    def undecodable(_: bytes) -> Any:
        raise ValueError(f"no decoder for {encoding!r} messages of schema {schema.name if schema else None!r}")
    return undecodable
