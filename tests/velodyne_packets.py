"""Velodyne VLP-16 data packets, written from the packet format in Velodyne's VLP-16 user manual
(section 9: 1206-byte UDP payloads), and packet captures of them written with dpkt.

A packet holds 12 data blocks of 100 bytes (flag 0xFFEE, azimuth in hundredths of a degree, then 32
channel records: distance in 2 mm units and a reflectivity byte; the VLP-16 fires its 16 lasers twice
per block), a 4-byte timestamp (microseconds past the hour), the return mode (0x37: strongest) and the
product id (0x22: VLP-16).
"""
from __future__ import annotations

import struct
from pathlib import Path

import dpkt

PACKETS_PER_ROTATION = 75
"""At 600 rpm: 12 blocks × 2 firings × 0.2° = 4.8° per packet."""
POINTS_PER_ROTATION = PACKETS_PER_ROTATION * 12 * 32
VLP16_ELEVATIONS = tuple(range(-15, 17, 2))
DISTANCE_UNIT = 0.002
PACKET_INTERVAL_US = 1327
"""754 packets a second at 600 rpm: 10 rotations a second."""


def vlp16_packets(rotations: float, range_m: float, reflectivity: int, start_us: int = 0
                  ) -> list[tuple[float, bytes]]:
    """(capture time in s, payload) for ``rotations`` turns of a VLP-16 that sees a wall ``range_m`` away all
    round, every return with ``reflectivity``."""
    distance = round(range_m / DISTANCE_UNIT)
    packets = []
    azimuth = 0.0
    t = start_us
    for _ in range(round(rotations * PACKETS_PER_ROTATION)):
        body = bytearray()
        for _block in range(12):
            body += struct.pack("<HH", 0xEEFF, round(azimuth * 100) % 36000)
            body += struct.pack("<HB", distance, reflectivity) * 32
            azimuth = (azimuth + 0.4) % 360
        body += struct.pack("<IBB", t % 3_600_000_000, 0x37, 0x22)
        packets.append((t / 1e6, bytes(body)))
        t += PACKET_INTERVAL_US
    return packets


def write_pcap(path: Path, payloads: list[tuple[float, bytes]], port: int = 2368) -> None:
    """A libpcap capture of ``payloads`` as UDP datagrams from 192.168.1.201 (the sensor's default) to
    ``port``, each in an Ethernet frame."""
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f)
        for stamp, payload in payloads:
            udp = dpkt.udp.UDP(sport=2368, dport=port, data=payload)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(src=bytes([192, 168, 1, 201]), dst=bytes([255, 255, 255, 255]), p=dpkt.ip.IP_PROTO_UDP,
                            data=udp)
            ip.len = len(ip)
            frame = dpkt.ethernet.Ethernet(src=b"\x60\x76\x88\x00\x00\x01", dst=b"\xff" * 6,
                                           type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
            writer.writepkt(bytes(frame), ts=stamp)
