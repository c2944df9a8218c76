"""KITTI raw drives, read through pykitti (velodyne_points of DATE/DATE_drive_XXXX_sync)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .formats import normalise_intensity
from .source import Frame, FrameSource, SourceError, as_points

logger = logging.getLogger(__name__)


class KittiSource(FrameSource):
    """One synced KITTI raw drive. Frame timestamps come from the drive's timestamps (pykitti)."""

    def __init__(self, base: Path, date: str, drive: str) -> None:
        self.base, self.date, self.drive = Path(base), date, drive
        drive_dir = self.base / date / f"{date}_drive_{drive}_sync"
        if not self.base.is_dir():
            raise SourceError(f"KITTI base directory not found: {self.base}")
        if not drive_dir.is_dir():
            raise SourceError(f"KITTI drive not found: {drive_dir}")
        raw = self._open()
        if not raw.velo_files:
            raise SourceError(f"no velodyne .bin files in {drive_dir / 'velodyne_points' / 'data'}")
        self.count = len(raw.velo_files)
        stamps = list(raw.timestamps)
        if len(stamps) < self.count:
            logger.warning("%s: %d timestamps for %d scans; missing ones are spaced at 10 Hz", drive_dir,
                           len(stamps), self.count)
        t0 = stamps[0] if stamps else None
        self.times = [(stamps[i] - t0).total_seconds() if i < len(stamps) and t0 else i / 10.0
                      for i in range(self.count)]
        span = self.times[-1] - self.times[0]
        self.native_fps = (self.count - 1) / span if self.count > 1 and span > 0 else None
        self.description = f"KITTI {date} drive {drive} ({self.count} scans)"
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
            except (OSError, ValueError) as exc:
                logger.warning("skipping %s: %s", path, exc)
                continue
            yield Frame(index, self.times[index], points)
