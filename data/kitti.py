"""KITTI raw drives, read through pykitti (velodyne_points of DATE/DATE_drive_XXXX_sync).

With ``colour="camera"`` each point takes the colour of the pixel it falls on in the left colour camera's
image of the same moment (image_02), through the calibration pykitti reads (``T_cam2_velo``, ``K_cam2``).
Points the camera does not see (behind it, outside its picture) are grey by their intensity.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .formats import normalise_intensity
from .source import Frame, FrameSource, SourceError, as_points

logger = logging.getLogger(__name__)


class KittiSource(FrameSource):
    """One synced KITTI raw drive. Frame timestamps come from the drive's timestamps (pykitti)."""

    def __init__(self, base: Path, date: str, drive: str, colour: str | None = None) -> None:
        if colour not in (None, "camera"):
            raise SourceError(f"--colour takes 'camera', got {colour!r}")
        self.base, self.date, self.drive = Path(base), date, drive
        self.colour = colour
        drive_dir = self.base / date / f"{date}_drive_{drive}_sync"
        if not self.base.is_dir():
            raise SourceError(f"KITTI base directory not found: {self.base}")
        if not drive_dir.is_dir():
            raise SourceError(f"KITTI drive not found: {drive_dir}")
        raw = self._open()
        if not raw.velo_files:
            raise SourceError(f"no velodyne .bin files in {drive_dir / 'velodyne_points' / 'data'}")
        self.count = len(raw.velo_files)
        if colour == "camera" and len(raw.cam2_files) < self.count:
            raise SourceError(f"--colour camera needs the left colour camera's images: {len(raw.cam2_files)} in "
                              f"{drive_dir / 'image_02' / 'data'} for {self.count} scans")
        stamps = list(raw.timestamps)
        if len(stamps) < self.count:
            logger.warning("%s: %d timestamps for %d scans; missing ones are spaced at 10 Hz", drive_dir,
                           len(stamps), self.count)
        t0 = stamps[0] if stamps else None
        self.times = [(stamps[i] - t0).total_seconds() if i < len(stamps) and t0 else i / 10.0
                      for i in range(self.count)]
        span = self.times[-1] - self.times[0]
        self.native_fps = (self.count - 1) / span if self.count > 1 and span > 0 else None
        self.description = f"KITTI {date} drive {drive} ({self.count} scans)" + (
            ", coloured from camera 2" if colour else "")
        self._raw: Any = raw

    def _open(self) -> Any:
        import pykitti

        try:
            return pykitti.raw(str(self.base), self.date, self.drive)
        except FileNotFoundError as exc:
            raise SourceError(f"KITTI drive incomplete: {exc.strerror}: {exc.filename}") from None
        except (KeyError, ValueError) as exc:
            raise SourceError(f"KITTI calibration or timestamps unreadable under {self.base / self.date}: {exc}") \
                from None

    def __getstate__(self) -> dict[str, Any]:
        # pykitti's calibration is a namedtuple of a class made at run time: not picklable.
        return {k: v for k, v in self.__dict__.items() if k != "_raw"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._raw = None

    def __len__(self) -> int:
        return self.count

    def frames(self) -> Iterator[Frame]:
        if self._raw is None:
            self._raw = self._open()
        for index in range(self.count):
            path = Path(self._raw.velo_files[index])
            try:
                size = path.stat().st_size
                if size % 16:
                    raise ValueError(f"size {size} bytes is not a multiple of 16 (4 float32 per point)")
                scan = self._raw.get_velo(index)
                points, _ = normalise_intensity(as_points(scan))  # KITTI reflectance is 0..1
                colours = self._camera_colours(index, points) if self.colour else None
            except (OSError, ValueError) as exc:
                logger.warning("skipping %s: %s", path, exc)
                continue
            yield Frame(index, self.times[index], points, colours)

    def _camera_colours(self, index: int, points: np.ndarray) -> np.ndarray:
        """Each point's pixel in camera 2's image of the same index; grey by intensity where it has none."""
        image = np.asarray(self._raw.get_cam2(index).convert("RGB"))
        calib = self._raw.calib
        homogeneous = np.c_[points[:, :3].astype(np.float64), np.ones(len(points))]
        camera = homogeneous @ np.asarray(calib.T_cam2_velo).T  # x right, y down, z forward
        pixels = camera[:, :3] @ np.asarray(calib.K_cam2).T
        depth = camera[:, 2]
        ahead = depth > 0.1
        u = np.full(len(points), -1, dtype=np.int64)
        v = np.full(len(points), -1, dtype=np.int64)
        u[ahead] = np.floor(pixels[ahead, 0] / depth[ahead]).astype(np.int64)
        v[ahead] = np.floor(pixels[ahead, 1] / depth[ahead]).astype(np.int64)
        height, width = image.shape[:2]
        seen = ahead & (u >= 0) & (u < width) & (v >= 0) & (v < height)
        grey = np.rint(points[:, 3] * 255).astype(np.uint8)
        colours = np.repeat(grey[:, None], 3, axis=1)
        colours[seen] = image[v[seen], u[seen]]
        return colours
