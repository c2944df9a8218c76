"""Ouster sensors' packets to point frames, with ouster-sdk, in a virtual environment of its own.

    .venv-ouster/bin/python -m ouster_reader pcap FILE --metadata JSON
    .venv-ouster/bin/python -m ouster_reader udp HOST PORT --metadata JSON
    .venv-ouster/bin/python -m ouster_reader sensor HOST

Why a process of its own: every ouster-sdk release (0.13.1 to 1.0.1) pins ``rosbags==0.9.23``, which the
streamer's recordings cannot use (they need rosbags 0.11), so the two cannot share one environment
(scripts/setup.sh makes ``.venv-ouster`` from requirements-ouster.txt). This module imports nothing of the
streamer's; data/ouster.py runs it and reads what it writes.

Output on stdout: one JSON line (``{"description": ...}`` or ``{"error": ...}``), then one
record per complete scan: the 20-byte header ``<4sIdI`` (b"OUSF", version 1, capture time in seconds, point
count N) and N × 4 little-endian float32 (x, y, z in metres, intensity 0..1 from the calibrated
reflectivity byte), beam by beam; points without a return are left out. With ``--check`` it stops after
the JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

MAGIC = b"OUSF"
VERSION = 1
HEADER = struct.Struct("<4sIdI")
RECEIVE_BUFFER = 8 << 20


def load_info(path: str) -> Any:
    from ouster.sdk import core

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ValueError(f"cannot read the metadata {path}: {exc.strerror}") from None
    try:
        return core.SensorInfo(text)
    except Exception as exc:  # ouster-sdk raises its own errors for what is not sensor metadata
        raise ValueError(f"{path} is not Ouster sensor metadata: {exc}") from None


def points_of(scan: Any, xyz_lut: Any) -> np.ndarray:
    """N × 4 float32, beam by beam (row-major in the scan's image), points with a return only."""
    from ouster.sdk.core import ChanField

    xyz = xyz_lut(scan).astype(np.float32)  # h × w × 3, metres
    reflectivity = scan.field(ChanField.REFLECTIVITY).astype(np.float32)
    intensity = np.clip(reflectivity / 255.0, 0.0, 1.0)
    returned = scan.field(ChanField.RANGE) > 0
    out = np.empty((int(returned.sum()), 4), dtype=np.float32)
    out[:, :3] = xyz[returned]
    out[:, 3] = intensity[returned]
    return out


def scans_from_packets(info: Any, packets: Iterator[tuple[float, bytes]]) -> Iterator[tuple[float, Any]]:
    """(time of the scan's last packet, complete scan) from (time, lidar packet bytes)."""
    from ouster.sdk import core

    fmt = core.PacketFormat(info)
    batcher = core.FrameBatcher(info)
    scan = core.LidarFrame(info)
    for stamp, data in packets:
        if len(data) != fmt.lidar_packet_size:
            continue  # IMU packets, other sensors
        packet = core.LidarPacket(len(data))
        packet.buf[:] = np.frombuffer(data, dtype=np.uint8)
        packet.host_timestamp = int(stamp * 1e9)
        if batcher.batch(packet, scan):
            yield stamp, scan
            scan = core.LidarFrame(info)


def listening(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen for Ouster packets on {host}:{port}: {exc.strerror}") from None
    return sock


def udp_packets(sock: socket.socket) -> Iterator[tuple[float, bytes]]:
    while True:
        data = sock.recv(65536)
        yield time.time(), data


def pcap_packets(path: str, info: Any) -> Iterator[tuple[float, bytes]]:
    """The capture's UDP payloads to the sensor's lidar port (any port when the metadata has none)."""
    from ouster.sdk import pcap

    source = pcap.PcapPacketSource(path, sensor_info=[info])
    for _index, packet in source:
        yield packet.host_timestamp / 1e9, bytes(packet.buf)


def write_frames(out: BinaryIO, info: Any, scans: Iterator[tuple[float, Any]]) -> None:
    from ouster.sdk import core

    lut = core.XYZLut(info)
    for stamp, scan in scans:
        points = points_of(scan, lut)
        out.write(HEADER.pack(MAGIC, VERSION, stamp, len(points)))
        out.write(points.astype("<f4").tobytes())
        out.flush()


def exit_with_parent() -> None:
    """Exit when the streamer goes, however it goes: it holds this process's stdin, which reads as ended then
    (a reader waiting for packets would otherwise outlive it)."""
    def watch() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m ouster_reader", description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("pcap", "udp", "sensor"))
    parser.add_argument("where", nargs="+", help="FILE; HOST PORT; or the sensor's HOST")
    parser.add_argument("--metadata", help="the sensor's metadata (JSON), as saved with its captures")
    parser.add_argument("--check", action="store_true", help="say what would be read, then stop")
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)  # the SDK's deprecation notices are not the user's business
    exit_with_parent()
    # stdout carries the records alone: what the SDK prints there (its C++ logging, "Will change sensor's
    # udp_dest ...") goes to stderr, which the streamer logs
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        import ouster.sdk  # noqa: F401  (a missing SDK is an error line like any other)

        if args.mode == "sensor":
            from ouster.sdk import sensor

            source = sensor.SensorPacketSource(args.where[0])
            info = source.sensor_info[0]
            packets = ((p.host_timestamp / 1e9, bytes(p.buf)) for _, p in source)
            where = f"Ouster sensor {args.where[0]}"
        else:
            if not args.metadata:
                raise ValueError("--metadata is needed to decode packets without the sensor")
            info = load_info(args.metadata)
            if args.mode == "pcap":
                packets = pcap_packets(args.where[0], info)
                where = f"Ouster capture {args.where[0]}"
            else:
                host, port = args.where[0], int(args.where[1])
                packets = udp_packets(listening(host, port))
                where = f"Ouster packets on {host}:{port}"
        fmt = info.format
        mode = f"{fmt.pixels_per_column} × {fmt.columns_per_frame}"
        description = f"{where} ({info.prod_line or 'Ouster'}, {mode}, {fmt.udp_profile_lidar})"
    except Exception as exc:  # say it on the JSON line: the streamer shows it as its own error
        out.write((json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
        out.flush()
        return 2
    out.write((json.dumps({"description": description}) + "\n").encode())
    out.flush()
    if args.check:
        return 0
    try:
        write_frames(out, info, scans_from_packets(info, packets))
        out.flush()
    except BrokenPipeError:  # the streamer stopped reading
        return 0
    except Exception as exc:  # a capture cut short, a socket gone: what was written stands
        print(f"ouster_reader: stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    # not sys.exit: the interpreter's shutdown would wait on the stdin-watching thread's lock and abort
    os._exit(code)
