"""Distances in millimetres between points clicked on images.

Duct lengths decide the donor's type (5 mm is the threshold between type 1 and 2),
so a click must map to the patient exactly as DICOM PS3.3 C.7.6.2.1.1 says:

    P = ImagePositionPatient + col * PixelSpacing[1] * row_direction
                             + row * PixelSpacing[0] * column_direction

``PixelSpacing[0]`` is the distance between rows and ``PixelSpacing[1]`` between
columns; ``row_direction`` (the first IOP triplet) points along increasing column
index. Row and column may be fractional (sub-pixel clicks); 0 is a pixel centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .geometry import Geometry, Vector

if TYPE_CHECKING:
    from .volume import Mip


def pixel_to_patient(geometry: Geometry, row: float, col: float) -> Vector:
    row_spacing, col_spacing = geometry.pixel_spacing
    point = (
        np.asarray(geometry.position, dtype=float)
        + col * col_spacing * np.asarray(geometry.row_direction, dtype=float)
        + row * row_spacing * np.asarray(geometry.column_direction, dtype=float)
    )
    return (float(point[0]), float(point[1]), float(point[2]))


def patient_to_pixel(geometry: Geometry, point: Sequence[float]) -> tuple[float, float, float]:
    """(row, col, distance from the plane along its normal in mm) of a patient point."""
    offset = np.asarray(point, dtype=float) - np.asarray(geometry.position, dtype=float)
    row_spacing, col_spacing = geometry.pixel_spacing
    col = float(offset @ np.asarray(geometry.row_direction)) / col_spacing
    row = float(offset @ np.asarray(geometry.column_direction)) / row_spacing
    return row, col, float(offset @ np.asarray(geometry.normal))


def distance_mm(p: Sequence[float], q: Sequence[float]) -> float:
    return math.dist(tuple(p), tuple(q))


def nearest_pixel(geometries: Sequence[Geometry], point: Sequence[float]) -> tuple[int, int, int]:
    """(slice index, row, col) of the pixel centre nearest to a patient point.

    The slice is the plane closest to the point; row and column are rounded and kept
    inside the image.
    """
    if not geometries:
        raise ValueError("no slices")
    placed = [patient_to_pixel(g, point) for g in geometries]
    index = min(range(len(placed)), key=lambda i: abs(placed[i][2]))
    row, col, _ = placed[index]
    geometry = geometries[index]
    row_index = min(max(round(row), 0), geometry.rows - 1)
    col_index = min(max(round(col), 0), geometry.columns - 1)
    return index, row_index, col_index


def mip_point_to_patient(mip: Mip, row: int, col: int) -> Vector:
    """Patient position of a point clicked on a MIP.

    A MIP pixel is the brightest voxel along a ray, so its depth is ambiguous on the
    image alone; the MIP remembers which slice, row and column the maximum came
    from, and that voxel is the point returned.
    """
    if not (0 <= row < mip.image.shape[0] and 0 <= col < mip.image.shape[1]):
        raise ValueError(f"point ({row}, {col}) is outside the MIP {mip.image.shape}")
    source = int(mip.slice_index[row, col])
    return pixel_to_patient(mip.geometries[source], float(mip.row_index[row, col]), float(mip.col_index[row, col]))
