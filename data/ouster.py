"""Ouster sensors: live (``--source ouster:HOST``, or ``ouster:[HOST:]PORT`` with ``--ouster-metadata``) and
packet captures (``--source capture.pcap --ouster-metadata meta.json``), decoded by ouster-sdk.

ouster-sdk cannot share the streamer's environment (every release pins ``rosbags==0.9.23``; the
recordings need 0.11), so it lives in ``.venv-ouster`` (scripts/setup.sh, requirements-ouster.txt) and
runs as a reader process (ouster_reader/) that writes complete scans to a pipe. A frame is one whole
scan, beam by beam; intensity is the calibrated reflectivity byte (0..255) over 255. A live source keeps
reading the pipe on a thread of its own and hands the stream the newest scan, as the Velodyne source does.
"""
from __future__ import annotations

import json
import logging
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from .latest import Latest, newest_frames
from .source import Frame, FrameSource, SourceError, as_points

logger = logging.getLogger(__name__)

PREFIX = "ouster:"
DEFAULT_PORT = 7502
"""The port Ouster sensors send their lidar packets to."""
ROOT = Path(__file__).resolve().parent.parent
OUSTER_PYTHON = ROOT / ".venv-ouster" / "bin" / "python"
HEADER = struct.Struct("<4sIdI")
MAGIC, VERSION = b"OUSF", 1
START_TIMEOUT = 60.0
"""Seconds the reader gets to say what it reads (importing the SDK, asking a sensor for its metadata)."""
LOGGED_LINES = 20
"""Lines of the reader's (ouster-sdk's) own messages passed on to the log; the rest are counted."""


def parse_source(text: str, metadata: Path | None) -> list[str]:
    """The reader's arguments for ``--source ouster:...``: with metadata, ``ouster:[HOST:]PORT`` (packets to
    listen for, default all interfaces and port 7502); without, ``ouster:HOST`` (the sensor, asked for its
    metadata over its HTTP API by ouster-sdk)."""
    rest = text[len(PREFIX):]
    if metadata is None:
        if not rest or rest.isdigit():
            raise SourceError(f"--source {text}: listening for packets needs the sensor's metadata "
                              "(--ouster-metadata meta.json); or give the sensor's host name, ouster:HOST")
        return ["sensor", rest]
    host, _, port_text = rest.rpartition(":") if ":" in rest else ("", "", rest)
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise SourceError(f"--source ouster:[HOST:]PORT with --ouster-metadata, got {text!r}") from None
    if not 0 < port < 65536:
        raise SourceError(f"--source {text}: port must be 1..65535")
    return ["udp", host or "0.0.0.0", str(port), "--metadata", str(metadata)]


class _Reader:
    """The reader process: its first line (what it reads, or why it cannot), then scans."""

    def __init__(self, args: list[str]) -> None:
        if not OUSTER_PYTHON.exists():
            raise SourceError(f"Ouster sources need ouster-sdk in {OUSTER_PYTHON.parent.parent} "
                              "(run scripts/setup.sh)")
        # its stdin is ours: it exits when we do, however we go (ouster_reader.exit_with_parent)
        self.proc = subprocess.Popen([str(OUSTER_PYTHON), "-m", "ouster_reader", *args], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.out: IO[bytes] = self.proc.stdout
        self.last_message = ""
        first = self._first_line()
        if "error" in first:
            self.close()
            raise SourceError(f"Ouster: {first['error']}")
        self.description = str(first.get("description", "Ouster"))
        # its messages are read as they come: a pipe nobody reads fills and stops the reader mid-write
        threading.Thread(target=self._pass_on_messages, name="ouster-reader-log", daemon=True).start()

    def _pass_on_messages(self) -> None:
        assert self.proc.stderr is not None
        count = 0
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.last_message = line
            count += 1
            if count <= LOGGED_LINES:
                logger.warning("%s: %s", self.description, line)
            elif count == LOGGED_LINES + 1:
                logger.warning("%s: more messages from the Ouster reader, not logged", self.description)

    def _first_line(self) -> dict[str, object]:
        timer = threading.Timer(START_TIMEOUT, self.proc.kill)
        timer.start()
        try:
            line = self.out.readline()
        finally:
            timer.cancel()
        try:
            first = json.loads(line)
        except ValueError:
            err = self.proc.stderr.read().decode(errors="replace")[-500:] if self.proc.stderr else ""
            self.close()
            raise SourceError(f"the Ouster reader did not start: {err or 'no output'}") from None
        if not isinstance(first, dict):
            self.close()
            raise SourceError("the Ouster reader said something unexpected")
        return first

    def scans(self) -> Iterator[tuple[float, np.ndarray]]:
        """(capture time, N × 4 float32) until the reader ends."""
        while True:
            head = self.out.read(HEADER.size)
            if len(head) < HEADER.size:
                return
            magic, version, stamp, count = HEADER.unpack(head)
            if magic != MAGIC or version != VERSION:
                raise SourceError(f"the Ouster reader wrote a record this streamer cannot read ({magic!r} v{version})")
            body = self.out.read(count * 16)
            if len(body) < count * 16:
                return
            yield stamp, np.frombuffer(body, dtype="<f4").reshape(count, 4)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class OusterPcapSource(FrameSource):
    """The scans in a packet capture, at their capture times."""

    timed = True

    def __init__(self, path: Path, metadata: Path) -> None:
        if not path.is_file():
            raise SourceError(f"no such file: {path}")
        self.args = ["pcap", str(path), "--metadata", str(metadata)]
        reader = _Reader(self.args)
        stamps: list[float] = []
        try:
            for stamp, _ in reader.scans():
                stamps.append(stamp)
                if len(stamps) == 3:
                    break
        finally:
            reader.close()
        self.description = reader.description
        if not stamps:
            raise SourceError(f"{path} holds no complete Ouster scan for this metadata (another sensor's or "
                              "another port's packets?)")
        if len(stamps) > 1:  # the longest gap: a capture's last scan may be cut short
            self.native_fps = 1.0 / float(np.max(np.diff(stamps)))

    def __len__(self) -> int:
        return 0  # not known without decoding the whole capture

    def frames(self) -> Iterator[Frame]:
        reader = _Reader(self.args)
        try:
            for index, (stamp, points) in enumerate(reader.scans()):
                yield Frame(index, stamp, as_points(points))
        finally:
            reader.close()


class OusterLiveSource(FrameSource):
    """Scans from a sensor's packets, newest first."""

    live = True

    def __init__(self, args: list[str]) -> None:
        self.args = args
        reader = _Reader([*args, "--check"])  # fail now on bad metadata or an unreachable sensor
        reader.close()
        self.description = reader.description

    def __len__(self) -> int:
        return 0

    def frames(self) -> Iterator[Frame | None]:
        reader = _Reader(self.args)
        latest: Latest[tuple[float, np.ndarray]] = Latest()

        def pump() -> None:
            for item in reader.scans():
                if latest.stopped:
                    return
                latest.put(item)
            if not latest.stopped:
                logger.warning("%s: the Ouster reader stopped: %s", self.description, reader.last_message)

        threading.Thread(target=pump, name="ouster-reader", daemon=True).start()
        try:
            yield from newest_frames(latest, as_points)
        finally:
            latest.stop()
            reader.close()
