"""Readers for single point-cloud files: KITTI .bin, NumPy .npy, PCD (ascii/binary), PLY.

Each reader returns N × 4 float32 (x, y, z, intensity as stored) and, when the file has them, the
points' colours (N × 3 uint8, data/colours.py), or raises ValueError saying what is wrong with the file;
a file without intensity gets 0. ``read_points`` brings intensity to 0..1
(data/intensity.py), on a scale given or assumed from the file's values.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .colours import colours_of
from .intensity import to_unit
from .source import as_points, with_colours

Read = tuple[np.ndarray, "np.ndarray | None"]
"""What a reader returns: N × 4 float32 points, and N × 3 uint8 colours or None."""

INTENSITY_NAMES = ("intensity", "reflectance", "remission", "i", "scalar_intensity", "scalar_Intensity")


def normalise_intensity(points: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
    """Intensity (column 3, float32 as read) to 0..1 on ``scale``, or one assumed from its values
    (data/intensity.py); the points and the scale used."""
    if not len(points):
        return points, scale or 1.0
    points[:, 3], used = to_unit(points[:, 3], scale)
    return points, used


def read_bin(path: Path) -> Read:
    """KITTI Velodyne: consecutive float32 x, y, z, reflectance."""
    raw = path.read_bytes()
    if len(raw) % 16:
        raise ValueError(f"size {len(raw)} bytes is not a multiple of 16 (4 float32 per point)")
    return as_points(np.frombuffer(raw, dtype="<f4").reshape(-1, 4)), None


def read_npy(path: Path) -> Read:
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises a variety of errors for damaged files
        raise ValueError(f"not a readable .npy file: {exc}") from None
    if array.dtype.names:
        return with_colours(_columns_by_name(array, array.dtype.names), colours_of(array.reshape(-1)))
    return as_points(np.asarray(array, dtype=np.float32)), None


def _columns_by_name(array: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    missing = [axis for axis in "xyz" if axis not in names]
    if missing:
        raise ValueError(f"no {', '.join(missing)} field (fields: {', '.join(names)})")
    cols = [np.asarray(array[axis], dtype=np.float32).ravel() for axis in "xyz"]
    name = next((n for n in INTENSITY_NAMES if n in names), None)
    cols.append(np.asarray(array[name], dtype=np.float32).ravel() if name else np.zeros_like(cols[0]))
    return np.stack(cols, axis=1)


_PCD_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("I", 1): "i1", ("I", 2): "<i2", ("I", 4): "<i4",
              ("I", 8): "<i8", ("U", 1): "u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8"}


def read_pcd(path: Path) -> Read:
    """PCD v0.7 with DATA ascii or binary (binary_compressed is refused with a clear message)."""
    raw = path.read_bytes()
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise ValueError("PCD header has no DATA line")
        line = raw[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            break
    try:
        fields = header["FIELDS"]
        sizes = [int(v) for v in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(v) for v in header.get("COUNT", ["1"] * len(fields))]
        npoints = int(header["POINTS"][0]) if "POINTS" in header else \
            int(header["WIDTH"][0]) * int(header.get("HEIGHT", ["1"])[0])
        kind = header["DATA"][0].lower()
    except (KeyError, ValueError, IndexError) as exc:
        raise ValueError(f"PCD header is incomplete or malformed ({exc})") from None
    if not len(fields) == len(sizes) == len(types) == len(counts):
        raise ValueError("PCD header FIELDS/SIZE/TYPE/COUNT disagree in length")
    try:
        dtype = np.dtype([(f"{name}_{k}" if count > 1 else name, _PCD_TYPES[(t, s)])
                          for name, s, t, count in zip(fields, sizes, types, counts) for k in range(count)])
    except KeyError as exc:
        raise ValueError(f"unsupported PCD field type/size {exc}") from None
    if kind == "binary":
        need = npoints * dtype.itemsize
        if len(raw) - pos < need:
            raise ValueError(f"PCD data truncated: {len(raw) - pos} bytes, header promises {need}")
        array = np.frombuffer(raw, dtype=dtype, count=npoints, offset=pos)
    elif kind == "ascii":
        text = raw[pos:].decode("ascii", errors="replace").split()
        if len(text) < npoints * len(dtype.names):
            raise ValueError(f"PCD data truncated: {len(text)} values, header promises {npoints * len(dtype.names)}")
        try:
            values = np.array(text[:npoints * len(dtype.names)], dtype=np.float64).reshape(npoints, -1)
        except ValueError:
            raise ValueError("PCD ascii data has non-numeric values") from None
        array = np.zeros(npoints, dtype=[(n, "<f8") for n in dtype.names])
        for i, name in enumerate(dtype.names):
            array[name] = values[:, i]
    else:
        raise ValueError(f"PCD DATA {kind} is not supported (use ascii or binary, e.g. pcl_convert_pcd_ascii_binary)")
    return with_colours(_columns_by_name(array, array.dtype.names), colours_of(array))


def read_ply(path: Path) -> Read:
    from plyfile import PlyData

    try:
        ply = PlyData.read(str(path))
        vertex = ply["vertex"].data
    except KeyError:
        raise ValueError("PLY file has no vertex element") from None
    except Exception as exc:  # plyfile raises several types for malformed files
        raise ValueError(f"not a readable PLY file: {exc}") from None
    return with_colours(_columns_by_name(vertex, vertex.dtype.names), colours_of(vertex))


READERS: dict[str, Callable[[Path], Read]] = {
    ".bin": read_bin, ".npy": read_npy, ".pcd": read_pcd, ".ply": read_ply,
}


def read_points(path: Path, intensity_scale: float | None = None) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Read any supported file by its suffix, intensity brought to 0..1 on ``intensity_scale`` (or one assumed
    from the file's values); the points, their colours (None if the file has none) and the intensity scale
    used. ValueError for unknown suffixes and bad content."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"unsupported file type {path.suffix!r} (supported: {', '.join(READERS)})")
    points, colours = reader(path)
    points, used = normalise_intensity(points, intensity_scale)
    return points, colours, used
