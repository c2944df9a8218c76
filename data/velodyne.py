"""Velodyne sensors: live from their UDP packets (``--source velodyne:PORT``) and packet captures
(``--source capture.pcap``), decoded by ``velodyne-decoder`` (the model is read from each packet's
factory bytes; HDL-64E calibration from the capture).

A frame is one whole rotation, as the decoder cuts them. Intensity is the sensor's calibrated
reflectivity byte (0..255). A live source keeps reading the socket on a thread of its own and hands the
stream the newest complete rotation, so a stream slower than the sensor skips rotations and never lags.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .latest import Latest, newest_frames
from .source import Frame, FrameSource, SourceError, as_points

logger = logging.getLogger(__name__)

PREFIX = "velodyne:"
DEFAULT_PORT = 2368
"""The port Velodyne sensors send their data packets to."""
RECEIVE_BUFFER = 8 << 20
"""Socket receive buffer asked for: rotations of a 128-beam sensor while a frame is being handed over."""
REFLECTIVITY_SCALE = 255.0


def points_of(decoded: np.ndarray) -> np.ndarray:
    """N × 4 float32 (x, y, z, intensity 0..1) from the decoder's rows (x, y, z, intensity, ...)."""
    points = np.array(decoded[:, :4], dtype=np.float32)
    points[:, 3] /= REFLECTIVITY_SCALE
    return as_points(points)


def parse_address(text: str) -> tuple[str, int]:
    """``velodyne:PORT`` or ``velodyne:HOST:PORT`` (the address to listen on; default all interfaces)."""
    rest = text[len(PREFIX):]
    host, _, port_text = rest.rpartition(":")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise SourceError(f"--source velodyne:[HOST:]PORT, got {text!r}") from None
    if not 0 < port < 65536:
        raise SourceError(f"--source {text}: port must be 1..65535")
    return host or "0.0.0.0", port


class VelodynePcapSource(FrameSource):
    """The rotations in a packet capture, at their capture times."""

    timed = True

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise SourceError(f"no such file: {path}")
        self.path = path
        first = []
        try:
            for stamp, _ in self._scans():
                first.append(stamp)
                if len(first) == 3:
                    break
        except Exception as exc:  # dpkt and the decoder have errors of their own for what is not a capture
            raise SourceError(f"cannot read {path} as a Velodyne capture: {type(exc).__name__}: {exc}") from None
        if not first:
            raise SourceError(f"{path} holds no Velodyne rotation (no 1206-byte Velodyne data packets found; an "
                              "Ouster capture is read with --ouster-metadata meta.json)")
        if len(first) > 1:  # the longest gap: a capture's last rotation may be cut short
            self.native_fps = 1.0 / float(np.max(np.diff(first)))
        self.description = f"Velodyne capture {path.name}"

    def __len__(self) -> int:
        return 0  # not known without decoding the whole capture

    def _scans(self) -> Iterator[tuple[float, np.ndarray]]:
        import velodyne_decoder as vd

        for stamp, points in vd.read_pcap(str(self.path), vd.Config()):
            yield float(stamp.host), points

    def frames(self) -> Iterator[Frame]:
        index = 0
        try:
            for stamp, decoded in self._scans():
                if len(decoded):
                    yield Frame(index, stamp, points_of(decoded))
                    index += 1
        except Exception as exc:  # a capture cut short: what was read stands
            logger.warning("%s: stopped after %d rotations: %s: %s", self.path, index, type(exc).__name__, exc)


class VelodyneUdpSource(FrameSource):
    """Rotations decoded from the packets arriving at ``host:port``, newest first."""

    live = True

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.description = f"Velodyne packets on {host}:{port}"
        with self._socket():  # fail now if the port cannot be had; the producer process opens its own
            pass

    def __len__(self) -> int:
        return 0

    def _socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise SourceError(f"cannot listen for Velodyne packets on {self.host}:{self.port}: {exc.strerror}") \
                from None
        return sock

    def frames(self) -> Iterator[Frame | None]:
        latest: Latest[tuple[float, np.ndarray]] = Latest()
        sock = self._socket()
        reader = threading.Thread(target=self._read, args=(sock, latest), name="velodyne-udp", daemon=True)
        reader.start()
        try:
            yield from newest_frames(latest, points_of)
        finally:
            latest.stop()
            sock.close()

    def _read(self, sock: socket.socket, latest: Latest[tuple[float, np.ndarray]]) -> None:
        import velodyne_decoder as vd

        decoder = vd.StreamDecoder(vd.Config())
        ignored = 0
        sock.settimeout(0.5)
        while not latest.stopped:
            try:
                data = sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) != vd.PACKET_SIZE:
                ignored += 1
                if ignored == 1:
                    logger.warning("%s: ignoring a %d-byte datagram (a Velodyne data packet is %d bytes; "
                                   "telemetry or another sensor?)", self.description, len(data), vd.PACKET_SIZE)
                continue
            try:
                result = decoder.decode(time.time(), data)
            except Exception as exc:  # a corrupt packet: the decoder says what; the rotation goes on
                logger.warning("%s: undecodable packet: %s", self.description, exc)
                continue
            if result is not None and len(result[1]):
                latest.put((float(result[0].host), result[1]))

