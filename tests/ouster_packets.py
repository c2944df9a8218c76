"""Ouster lidar packets of a known scan, written by ouster-sdk's own writer. Run with .venv-ouster's Python
(the streamer's environment has no ouster-sdk): ``python tests/ouster_packets.py OUT_DIR SCANS``.

Writes ``OUT_DIR/meta.json`` (an OS-1-64 at 512 × 10 with the RNG19_RFL8_SIG16_NIR16 profile, its design
values from ouster-sdk), ``OUT_DIR/packets.bin`` (each packet as a 4-byte little-endian length and its
bytes) and ``OUT_DIR/capture.pcap`` (the same packets, 10 scans a second, by ouster-sdk's pcap writer).
Every scan: a return at RANGE_MM from every other column, reflectivity REFLECTIVITY.
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

RANGE_MM = 10_000
REFLECTIVITY = 51
PROFILE = "RNG19_RFL8_SIG16_NIR16"
START_NS = 1_700_000_000 * 10**9


def main() -> None:
    warnings.simplefilter("ignore", FutureWarning)
    from ouster.sdk import core, pcap

    out, scans = Path(sys.argv[1]), int(sys.argv[2])
    meta = json.loads(core.SensorInfo.from_default(core.LidarMode._512x10).to_json_string())
    meta["lidar_data_format"]["udp_profile_lidar"] = PROFILE
    meta["config_params"].update(udp_profile_lidar=PROFILE, udp_port_lidar=7502)
    text = json.dumps(meta)
    (out / "meta.json").write_text(text)
    info = core.SensorInfo(text)
    fmt = core.PacketFormat(info)
    frame = core.LidarFrame(info)
    frame.field(core.ChanField.RANGE)[:] = RANGE_MM
    frame.field(core.ChanField.RANGE)[:, ::2] = 0  # no return from every other column
    frame.field(core.ChanField.REFLECTIVITY)[:] = REFLECTIVITY
    frame.status[:] = 1
    per_scan = info.format.columns_per_frame // info.format.columns_per_packet
    packets = []
    for k in range(scans):
        frame.frame_id = k
        frame.timestamp[:] = START_NS + k * 10**8 + np.arange(frame.w, dtype=np.uint64) * (10**8 // frame.w)
        for j, packet in enumerate(core.frame_to_packets(frame, fmt, info.init_id, info.sn)):
            packet.host_timestamp = START_NS + k * 10**8 + (j + 1) * 10**8 // per_scan
            packets.append(packet)
    (out / "packets.bin").write_bytes(b"".join(len(bytes(p.buf)).to_bytes(4, "little") + bytes(p.buf)
                                                for p in packets))
    pcap.record(packets, str(out / "capture.pcap"))


if __name__ == "__main__":
    main()
