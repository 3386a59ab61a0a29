"""A 3D MRCP series read from a folder or zip of DICOM files, for proposing its tree. Pure: no Django.

The series chosen is the one with the most slices; it must be an MR series whose slices can
all be placed in 3D, are parallel, of one size and evenly spaced. Anything else is refused
with the reason, never guessed at.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dicom.archive import ArchiveRejected, Member, iter_zip_members
from .dicom.geometry import Geometry, MissingGeometry, dot, frame_geometries
from .dicom.header import InstanceHeader
from .dicom.reader import DicomRejected, read_instance

_PARALLEL = 0.999
# Gaps between neighbouring slices may differ from their median by this fraction at most.
_SPACING_TOLERANCE = 0.1
ZIP_LIMITS = {
    "max_files": 20_000,
    "max_total_bytes": 8 * 1024**3,
    "max_member_bytes": 2 * 1024**3,
    "max_ratio": 200.0,
}


class SeriesRefused(ValueError):
    """No series in the files can be proposed from; the message says why."""


@dataclass(frozen=True)
class FoundSeries:
    series_instance_uid: str
    description: str
    files: int
    skipped: int
    volume: np.ndarray
    geometries: list[Geometry]


def _sources(path: Path) -> Iterator[tuple[str, object]]:
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            yield str(file.relative_to(path)), file
    elif zipfile.is_zipfile(path):
        try:
            for member in iter_zip_members(path, **ZIP_LIMITS):  # type: ignore[arg-type]
                if isinstance(member, Member):
                    yield member.name, member.data
        except ArchiveRejected as refused:
            raise SeriesRefused(f"{path.name}: zip archive refused: {refused.reason}") from None
    elif path.is_file():
        yield path.name, path
    else:
        raise SeriesRefused(f"{path}: no such folder or file")


def read_largest_series(path: str | Path) -> FoundSeries:
    """The 3D series with the most slices among the DICOM files at ``path`` (a folder, searched
    recursively, or a zip archive), stacked in order along the slice normal."""
    path = Path(path)
    by_series: dict[str, list[tuple[InstanceHeader, np.ndarray]]] = {}
    skipped = 0
    for name, source in _sources(path):
        try:
            header, pixels = read_instance(source, name=name)  # type: ignore[arg-type]
        except DicomRejected:
            skipped += 1
            continue
        by_series.setdefault(header.series_instance_uid, []).append((header, pixels))
    if not by_series:
        raise SeriesRefused(f"{path}: no readable DICOM image" + (f" ({skipped} file(s) not DICOM)" if skipped else ""))

    def slices(items: list[tuple[InstanceHeader, np.ndarray]]) -> int:
        return sum(header.number_of_frames for header, _ in items)

    uid, items = max(by_series.items(), key=lambda pair: (slices(pair[1]), pair[0]))
    header = items[0][0]
    label = f"series {header.series_number or ''} {header.series_description or uid}".replace("  ", " ")
    if header.modality != "MR":
        raise SeriesRefused(f"{label}: modality {header.modality or 'missing'}, not MR")
    planes: list[tuple[Geometry, np.ndarray]] = []
    for item_header, pixels in items:
        if (item_header.rows, item_header.columns) != (header.rows, header.columns):
            raise SeriesRefused(f"{label}: its images are not all {header.rows} x {header.columns}")
        try:
            geometries = frame_geometries(item_header)
        except MissingGeometry as missing:
            raise SeriesRefused(f"{label}: a slice cannot be placed in 3D ({missing})") from None
        frames = pixels if pixels.ndim == 3 else pixels[None]
        planes.extend(zip(geometries, frames, strict=True))
    if len(planes) < 2:
        raise SeriesRefused(f"{label}: one slice is no 3D volume")
    normal = planes[0][0].normal
    if any(abs(dot(normal, geometry.normal)) < _PARALLEL for geometry, _ in planes):
        raise SeriesRefused(f"{label}: its slices are not parallel")
    planes.sort(key=lambda plane: dot(plane[0].position, normal))
    depths = np.array([dot(geometry.position, normal) for geometry, _ in planes])
    gaps = np.diff(depths)
    median = float(np.median(gaps))
    if median <= 0 or np.any(np.abs(gaps - median) > _SPACING_TOLERANCE * median):
        raise SeriesRefused(f"{label}: its slices are not evenly spaced (a gap differs from {median:.2f} mm)")
    return FoundSeries(
        series_instance_uid=uid,
        description=header.series_description,
        files=len(items),
        skipped=skipped + sum(len(other) for key, other in by_series.items() if key != uid),
        volume=np.stack([frame.astype(np.float32, copy=False) for _, frame in planes]),
        geometries=[geometry for geometry, _ in planes],
    )


__all__ = ["FoundSeries", "SeriesRefused", "read_largest_series"]
