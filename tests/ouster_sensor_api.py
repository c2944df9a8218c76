"""A stand-in for an Ouster sensor's HTTP API, enough for ouster-sdk's sensor client (1.0.1) to configure it
and read its metadata: the firmware check (``/api/v1/sensor/metadata/sensor_info``), the configuration it
reads and writes (``/api/v1/sensor/config``), the metadata and the user data. The sensor's packets come from
the test itself, over loopback UDP."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

FIRMWARE = {"build_rev": "v3.1.0", "image_rev": "ousteros-image-prod-aries-v3.1.0+20240101",
            "build_date": "2024-01-01T00:00:00Z", "prod_pn": "840-102145-D", "status": "RUNNING"}
"""What sensor_info says beyond the design values: a firmware the SDK accepts (2.4 or later). The serial and
initialisation id stay those of the packets (the SDK drops packets of another sensor)."""

CONFIG = {"udp_dest": "", "udp_port_lidar": 7502, "udp_port_imu": 7503, "lidar_mode": "512x10",
          "timestamp_mode": "TIME_FROM_INTERNAL_OSC", "operating_mode": "NORMAL",
          "udp_profile_lidar": "RNG19_RFL8_SIG16_NIR16", "udp_profile_imu": "LEGACY", "columns_per_packet": 16,
          "azimuth_window": [0, 360000], "multipurpose_io_mode": "OFF", "nmea_baud_rate": "BAUD_9600",
          "nmea_ignore_valid_char": 0, "nmea_in_polarity": "ACTIVE_HIGH", "nmea_leap_seconds": 0,
          "sync_pulse_in_polarity": "ACTIVE_HIGH", "sync_pulse_out_angle": 360, "sync_pulse_out_frequency": 1,
          "sync_pulse_out_polarity": "ACTIVE_HIGH", "sync_pulse_out_pulse_width": 10, "signal_multiplier": 1,
          "phase_lock_enable": False, "phase_lock_offset": 0, "lidar_frame_azimuth_offset": 0,
          "return_order": "STRONGEST_TO_WEAKEST", "gyro_fsr": "NORMAL", "accel_fsr": "NORMAL",
          "min_range_threshold_cm": 0}
"""A configuration as the sensor reports it, for the 512 × 10 mode and profile of tests/ouster_packets.py."""


REQUESTS = web.AppKey("requests", list[str])
CONFIG_KEY = web.AppKey("config", dict[str, Any])


def sensor_api(metadata: Path) -> web.Application:
    meta: dict[str, Any] = json.loads(metadata.read_text())
    meta["sensor_info"].update(FIRMWARE)
    config = dict(CONFIG)
    requests: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        requests.append(f"{request.method} {request.path}")
        path = request.path
        if path == "/api/v1/sensor/config":
            if request.method == "POST":
                config.update(await request.json())
                return web.json_response({})
            return web.json_response(config)
        if path == "/api/v1/sensor/metadata":
            return web.json_response({**meta, "config_params": {**meta["config_params"], **config}})
        if path.startswith("/api/v1/sensor/metadata/") and path.rsplit("/", 1)[1] in meta:
            return web.json_response(meta[path.rsplit("/", 1)[1]])
        if path == "/api/v1/user/data":
            return web.json_response("")
        return web.json_response({"error": f"not in this stand-in: {path}"}, status=404)

    app = web.Application()
    app[REQUESTS] = requests
    app[CONFIG_KEY] = config
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
