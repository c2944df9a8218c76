"""A folder of point files (.bin, .npy, .pcd, .ply), streamed in name order."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from .formats import READERS, read_points
from .intensity import SourceScale
from .source import Frame, FrameSource, SourceError

logger = logging.getLogger(__name__)


class FolderSource(FrameSource):
    """Every supported file directly in ``folder``, sorted by name. Unreadable files are skipped."""

    def __init__(self, folder: Path, fps: float = 10.0, intensity_scale: float | None = None) -> None:
        """``intensity_scale``: the intensity value meaning full intensity; default: assumed from the first
        readable file and kept for every file after it (frames must not flicker between guesses)."""
        self.folder = folder
        self.intensity_scale = intensity_scale
        self._scale = SourceScale(intensity_scale, str(folder))
        if not folder.exists():
            raise SourceError(f"no such folder: {folder}")
        if not folder.is_dir():
            raise SourceError(f"not a folder: {folder} (--source takes 'synthetic', 'kitti' or a folder)")
        candidates = sorted(p for p in folder.iterdir() if p.suffix.lower() in READERS)
        self.files = [p for p in candidates if p.is_file()]
        for p in candidates:
            if not p.is_file():  # a folder with a point-file name, or a symlink to nothing
                logger.warning("skipping %s: not a readable file", p)
        if not self.files:
            raise SourceError(f"no point files in {folder} (looked for {', '.join(READERS)})")
        self.native_fps = fps
        self.description = f"folder {folder} ({len(self.files)} files)"

    def __len__(self) -> int:
        return len(self.files)

    def frames(self) -> Iterator[Frame]:
        scale = self.intensity_scale
        for index, path in enumerate(self.files):
            try:
                points, colours, used = read_points(path, scale)
            except (OSError, ValueError) as exc:
                logger.warning("skipping %s: %s", path, exc)
                continue
            if len(points) == 0:
                logger.warning("skipping %s: no points", path)
                continue
            # a file without intensity says nothing of the scale
            scale = self._scale.settle(scale, used, path.name, has_intensity=bool(points[:, 3].any()))
            yield Frame(index, index / self.native_fps, points, colours)
