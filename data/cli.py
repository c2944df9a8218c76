"""Command-line flags for choosing a frame source, and the factory that opens it."""
from __future__ import annotations

import argparse
from pathlib import Path

from .cut import CutSource, parse_range
from .recording import RecordingSource, is_recording
from .source import FrameSource, SourceError, first_frame

#: Points the synthetic scene yields per azimuth column (64 beams minus sky and dropouts), measured.
POINTS_PER_COLUMN = 61.5


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("source")
    group.add_argument("--source", default="synthetic",
                       metavar="SYNTHETIC|kitti|DIR|BAG|MCAP|velodyne:PORT|ouster:HOST|PCAP",
                       help="'synthetic' (default: a generated 64-beam street scene, no download), 'kitti' "
                            "(a KITTI raw drive via pykitti, see --kitti-dir), a folder of .bin/.npy/.pcd/.ply "
                            "point files streamed in name order, or a recording: a ROS 1 .bag, a ROS 2 bag folder "
                            "(or its .db3/.mcap file) or an .mcap file, whose PointCloud2 messages play at their "
                            "recorded times; a live Velodyne sensor, velodyne:[HOST:]PORT (its data port, 2368 by "
                            "default), or a Velodyne packet capture (.pcap); a live Ouster sensor, ouster:HOST (its "
                            "metadata from the sensor), or its packets with --ouster-metadata: ouster:[HOST:]PORT "
                            "(7502 by default) or an Ouster capture (.pcap)")
    group.add_argument("--ouster-metadata", type=Path, metavar="JSON",
                       help="the Ouster sensor's metadata (as its tools save it beside captures): decode its packets "
                            "from ouster:[HOST:]PORT or a .pcap without asking the sensor")
    group.add_argument("--topic", help="a recording's point-cloud topic (needed when it has several; the error "
                                       "lists them)")
    group.add_argument("--intensity-scale", type=float, metavar="MAX",
                       help="the intensity value that means full intensity in a recording or a folder of point "
                            "files (default: from the field's type and the values: 1, 255 or 65535; the log says "
                            "which was assumed)")
    group.add_argument("--probe", action="store_true",
                       help="print what the source holds (frames, points, rate, topics) and exit")
    group.add_argument("--frames", metavar="START:STOP",
                       help="only these frames of each pass, counted from 0 (e.g. 100:200, 50:, :10)")
    group.add_argument("--time", metavar="START:STOP",
                       help="only the frames this many seconds after the first one (e.g. 12.5:30), by the "
                            "source's timestamps (a recording's recorded times)")
    group.add_argument("--seed", type=int, default=1, help="synthetic scene seed (default: 1)")
    group.add_argument("--points", type=int, metavar="N",
                       help="synthetic scene: about N points per frame (default: ~123,000, a 64-beam sensor "
                            "at 2,000 azimuth steps)")
    group.add_argument("--kitti-dir", type=Path, metavar="DIR",
                       help="KITTI raw base directory, holding DATE/DATE_drive_XXXX_sync/")
    group.add_argument("--date", help="KITTI drive date, e.g. 2011_09_26")
    group.add_argument("--drive", help="KITTI drive number, e.g. 0001")
    group.add_argument("--colour", choices=["camera"],
                       help="KITTI: colour each point from the left colour camera's image of the same moment "
                            "(image_02, through the drive's calibration); the viewer's 'source colour' shows it")


def create_source(args: argparse.Namespace) -> FrameSource:
    """Open the source the flags describe; raises SourceError with a message naming what is wrong."""
    frames_text, time_text = getattr(args, "frames", None), getattr(args, "time", None)
    frames = parse_range(frames_text, "--frames") if frames_text else (None, None)
    seconds = parse_range(time_text, "--time", float) if time_text else (None, None)
    source = open_source(args, frames, seconds)
    if (frames, seconds) == ((None, None), (None, None)) or isinstance(source, RecordingSource):
        return source  # a recording cuts itself, before decoding what it skips
    cut = CutSource(source, frames, seconds)
    for _ in cut.frames():
        return cut
    raise SourceError(f"{cut.description}: selects no frame of the source (one pass holds {len(source)})")


def open_source(args: argparse.Namespace, frames: tuple[float | None, float | None] = (None, None),
                seconds: tuple[float | None, float | None] = (None, None)) -> FrameSource:
    """The source the flags name; a recording already cut to ``frames`` and ``seconds``, anything else whole."""
    name = args.source
    points = getattr(args, "points", None)
    recording = name not in ("synthetic", "kitti") and is_recording(Path(name))
    scale = getattr(args, "intensity_scale", None)
    if scale is not None and not scale > 0:
        raise SourceError(f"--intensity-scale must be > 0, got {scale:g}")
    if getattr(args, "colour", None) is not None and name != "kitti":
        raise SourceError("--colour camera applies to KITTI raw drives (--source kitti) only")
    if getattr(args, "topic", None) is not None and not recording:
        raise SourceError("--topic applies to recordings (bags, MCAP) only")
    if scale is not None and (name in ("synthetic", "kitti") or name.startswith(("velodyne:", "ouster:"))
                              or name.lower().endswith(".pcap")):
        raise SourceError("--intensity-scale applies to recordings and folders of point files only (synthetic, "
                          "KITTI, Velodyne and Ouster intensities have known scales)")
    metadata = getattr(args, "ouster_metadata", None)
    if metadata is not None and not (name.startswith("ouster:") or name.lower().endswith(".pcap")):
        raise SourceError("--ouster-metadata applies to ouster:[HOST:]PORT and Ouster captures (.pcap) only")
    if metadata is not None and not metadata.is_file():
        raise SourceError(f"--ouster-metadata: no such file: {metadata}")
    if name == "synthetic":
        from .synthetic import AZIMUTH_STEPS, SyntheticOptions, SyntheticSource
        steps = AZIMUTH_STEPS
        if points is not None:
            if points < 1000:
                raise SourceError(f"--points must be at least 1000, got {points}")
            steps = max(16, round(points / POINTS_PER_COLUMN))
        fps = args.fps if getattr(args, "fps", None) else 10.0
        return SyntheticSource(SyntheticOptions(seed=args.seed, fps=fps, azimuth_steps=steps))
    if points is not None:
        raise SourceError("--points applies to the synthetic source only")
    if recording:
        cut = (frames, seconds) != ((None, None), (None, None))
        return checked(RecordingSource(Path(name), getattr(args, "topic", None), scale, frames, seconds),
                       f"--frames/--time select no cloud of {name}" if cut else None)
    if name.startswith("velodyne:"):
        from .velodyne import VelodyneUdpSource, parse_address
        return VelodyneUdpSource(*parse_address(name))
    if name.startswith("ouster:"):
        from .ouster import OusterLiveSource, parse_source
        return OusterLiveSource(parse_source(name, metadata))
    if name.lower().endswith(".pcap") and metadata is not None:
        from .ouster import OusterPcapSource
        return checked(OusterPcapSource(Path(name), metadata))
    if name.lower().endswith(".pcap"):
        from .velodyne import VelodynePcapSource
        return checked(VelodynePcapSource(Path(name)))
    if name == "kitti":
        missing = [flag for flag, value in (("--kitti-dir", args.kitti_dir), ("--date", args.date),
                                            ("--drive", args.drive)) if not value]
        if missing:
            raise SourceError(f"--source kitti needs {', '.join(missing)}")
        from .kitti import KittiSource
        return checked(KittiSource(args.kitti_dir, args.date, args.drive, getattr(args, "colour", None)))
    from .folder import FolderSource
    return checked(FolderSource(Path(name), intensity_scale=scale))


def checked(source: FrameSource, empty: str | None = None) -> FrameSource:
    """Recorded data may be unreadable file by file: fail now, before serving, if none of it is (``empty``:
    the message when the source may simply have been cut to nothing)."""
    try:
        first_frame(source)
    except SourceError:
        if empty is None:
            raise
        raise SourceError(empty) from None
    return source
