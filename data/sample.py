"""``server.py make-sample``: write the synthetic scene as a KITTI raw drive that pykitti reads.

Layout (KITTI raw, synced):
    DIR/DATE/calib_cam_to_cam.txt, calib_imu_to_velo.txt, calib_velo_to_cam.txt
    DIR/DATE/DATE_drive_XXXX_sync/velodyne_points/{timestamps.txt, timestamps_start.txt,
        timestamps_end.txt, data/0000000000.bin ...}
    DIR/DATE/DATE_drive_XXXX_sync/oxts/{timestamps.txt, dataformat.txt, data/0000000000.txt ...}
The calibration values are plausible for a KITTI-like rig (camera 0.27 m ahead of the LiDAR and
below it); they are not KITTI's measured ones. OXTS packets follow the synthetic sensor's motion.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import re
from pathlib import Path

from tqdm import tqdm

from .synthetic import SyntheticOptions, SyntheticSource

logger = logging.getLogger(__name__)

START = dt.datetime(2011, 9, 26, 13, 2, 25)

CAM_TO_CAM = """calib_time: synthetic
S_00: 1.392000e+03 5.120000e+02
K_00: 9.842439e+02 0.000000e+00 6.900000e+02 0.000000e+00 9.808141e+02 2.331966e+02 0.000000e+00 0.000000e+00 1.000000e+00
D_00: 0.0 0.0 0.0 0.0 0.0
R_00: 1 0 0 0 1 0 0 0 1
T_00: 0.0 0.0 0.0
S_rect_00: 1.242000e+03 3.750000e+02
R_rect_00: 1 0 0 0 1 0 0 0 1
P_rect_00: 7.215377e+02 0 6.095593e+02 0 0 7.215377e+02 1.728540e+02 0 0 0 1 0
R_rect_01: 1 0 0 0 1 0 0 0 1
P_rect_01: 7.215377e+02 0 6.095593e+02 -3.875744e+02 0 7.215377e+02 1.728540e+02 0 0 0 1 0
R_rect_02: 1 0 0 0 1 0 0 0 1
P_rect_02: 7.215377e+02 0 6.095593e+02 4.485728e+01 0 7.215377e+02 1.728540e+02 2.163791e-01 0 0 1 2.745884e-03
R_rect_03: 1 0 0 0 1 0 0 0 1
P_rect_03: 7.215377e+02 0 6.095593e+02 -3.395242e+02 0 7.215377e+02 1.728540e+02 2.199936e+00 0 0 1 2.729905e-03
"""
# camera axes: x right, y down, z forward; LiDAR: x forward, y left, z up
VELO_TO_CAM = """calib_time: synthetic
R: 0 -1 0 0 0 -1 1 0 0
T: 0.0 -0.08 -0.27
delta_f: 0.0 0.0
delta_c: 0.0 0.0
"""
IMU_TO_VELO = """calib_time: synthetic
R: 1 0 0 0 1 0 0 0 1
T: -0.81 0.32 -0.80
"""
OXTS_FORMAT = ("lat lon alt roll pitch yaw vn ve vf vl vu ax ay az af al au wx wy wz wf wl wu "
               "pos_accuracy vel_accuracy navstat numsats posmode velmode orimode").replace(" ", ":\n") + ":\n"


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="KITTI raw base directory to write into (created if missing)")
    parser.add_argument("--frames", type=int, default=50, help="number of scans (default: 50)")
    parser.add_argument("--date", default="2011_09_26", help="drive date folder (default: 2011_09_26)")
    parser.add_argument("--drive", default="0001", help="four-digit drive number (default: 0001)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic scene seed (default: 1)")
    parser.add_argument("--fps", type=float, default=10.0, help="scan rate for the timestamps (default: 10)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing drive with the same name")


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f") + "000"  # KITTI writes nanoseconds


def write_sample(args: argparse.Namespace) -> Path:
    """Write the drive; returns its folder. Raises ValueError for bad arguments, OSError for I/O."""
    if args.frames < 1:
        raise ValueError(f"--frames must be at least 1, got {args.frames}")
    if not re.fullmatch(r"\d{4}_\d{2}_\d{2}", args.date):
        raise ValueError(f"--date must look like 2011_09_26, got {args.date!r}")
    if not re.fullmatch(r"\d{4}", args.drive):
        raise ValueError(f"--drive must be four digits like 0001, got {args.drive!r}")
    if not args.fps > 0:
        raise ValueError(f"--fps must be > 0, got {args.fps}")
    date_dir = args.dir / args.date
    drive_dir = date_dir / f"{args.date}_drive_{args.drive}_sync"
    velo = drive_dir / "velodyne_points"
    oxts = drive_dir / "oxts"
    if velo.exists() and any((velo / "data").glob("*.bin")) and not args.force:
        raise ValueError(f"{drive_dir} already holds scans (use --force to overwrite)")
    (velo / "data").mkdir(parents=True, exist_ok=True)
    (oxts / "data").mkdir(parents=True, exist_ok=True)
    for stale in (velo / "data").glob("*.bin"):
        stale.unlink()

    (date_dir / "calib_cam_to_cam.txt").write_text(CAM_TO_CAM)
    (date_dir / "calib_velo_to_cam.txt").write_text(VELO_TO_CAM)
    (date_dir / "calib_imu_to_velo.txt").write_text(IMU_TO_VELO)
    (oxts / "dataformat.txt").write_text(OXTS_FORMAT)

    options = SyntheticOptions(seed=args.seed, fps=args.fps, frames_per_pass=args.frames)
    source = SyntheticSource(options)
    stamps = []
    for frame in tqdm(source.frames(), total=args.frames, desc="make-sample", unit="scan"):
        name = f"{frame.index:010d}"
        tmp = velo / "data" / f".{name}.bin.tmp"
        frame.points.astype("<f4").tofile(tmp)
        os.replace(tmp, velo / "data" / f"{name}.bin")
        t = START + dt.timedelta(seconds=frame.timestamp)
        stamps.append(t)
        (oxts / "data" / f"{name}.txt").write_text(_oxts_packet(frame.timestamp, options.speed) + "\n")
    half = dt.timedelta(seconds=0.5 / args.fps)
    (velo / "timestamps.txt").write_text("".join(_stamp(t) + "\n" for t in stamps))
    (velo / "timestamps_start.txt").write_text("".join(_stamp(t - half) + "\n" for t in stamps))
    (velo / "timestamps_end.txt").write_text("".join(_stamp(t + half) + "\n" for t in stamps))
    (oxts / "timestamps.txt").write_text("".join(_stamp(t) + "\n" for t in stamps))
    logger.info("wrote %d scans to %s", args.frames, drive_dir)
    return drive_dir


def _oxts_packet(t: float, speed: float) -> str:
    """An OXTS line for a car driving east at ``speed`` from a point in Karlsruhe."""
    lat0, lon0 = 49.011213, 8.422885
    east = speed * t
    lon = lon0 + math.degrees(east / (6378137.0 * math.cos(math.radians(lat0))))
    values = [lat0, lon, 112.0, 0.0, 0.0, 0.0, 0.0, speed, speed, 0.0, 0.0] + [0.0] * 12 + [0.05, 0.02]
    flags = [4, 10, 4, 4, 4]
    return " ".join(f"{v:.9g}" for v in values) + " " + " ".join(str(f) for f in flags)
