"""The volume on an isotropic grid, placed in the patient.

Why resample: the Hessian filters and the skeleton treat every axis alike, while an
MRCP's slices are often thicker than its pixels. The grid keeps the series' own axes
(slice normal, column direction, row direction), so a grid index maps to a patient
point by one affine step and nothing is rotated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from imaging.dicom.geometry import Geometry

# Slices whose spacing varies by more than this fraction cannot share one grid.
SPACING_TOLERANCE = 0.05


def neighbour_pairs(voxels: np.ndarray) -> np.ndarray:
    """The pairs of voxels (m x 2 rows of indices into ``voxels``, n x 3 grid indices) that touch
    by a face, an edge or a corner: each voxel's 26 neighbours."""
    pairs: np.ndarray = cKDTree(voxels).query_pairs(1.0, p=np.inf, output_type="ndarray")
    return pairs


@dataclass(frozen=True)
class Grid:
    """An isotropic voxel grid: index (a, b, c) lies at
    ``origin + voxel_mm * (a * axes[0] + b * axes[1] + c * axes[2])`` in patient mm."""

    origin: np.ndarray
    axes: np.ndarray  # 3 x 3, rows are the unit directions of the index axes
    voxel_mm: float

    def to_patient(self, indices: np.ndarray) -> np.ndarray:
        """Patient points (n x 3) of grid indices (n x 3, may be fractional)."""
        points: np.ndarray = self.origin + self.voxel_mm * (np.asarray(indices, dtype=float) @ self.axes)
        return points

    def to_index(self, points: np.ndarray) -> np.ndarray:
        indices: np.ndarray = ((np.asarray(points, dtype=float) - self.origin) @ self.axes.T) / self.voxel_mm
        return indices


@dataclass(frozen=True)
class SeriesGeometry:
    """Where a stacked volume (slice, row, column) lies: the first slice's plane, the
    distance between slices along the normal."""

    first: Geometry
    slice_spacing: float

    @classmethod
    def from_slices(cls, geometries: Sequence[Geometry]) -> SeriesGeometry:
        if not geometries:
            raise ValueError("no slices")
        first = geometries[0]
        if not first.spacing_known:
            raise ValueError("the slices have no pixel spacing: nothing can be measured")
        normal = np.asarray(first.normal)
        if len(geometries) == 1:
            return cls(first, float(min(first.pixel_spacing)))
        depths = np.array([float(np.dot(g.position, normal)) for g in geometries])
        gaps = np.diff(depths)
        if np.any(gaps <= 0):
            raise ValueError("slices must be ordered along their normal, without repeats")
        gap = float(np.median(gaps))
        if np.max(np.abs(gaps - gap)) > SPACING_TOLERANCE * gap:
            raise ValueError("slices are not evenly spaced")
        return cls(first, gap)

    def raw_to_patient(self, indices: np.ndarray) -> np.ndarray:
        """Patient points of (slice, row, column) indices."""
        k, i, j = np.asarray(indices, dtype=float).T
        row_spacing, col_spacing = self.first.pixel_spacing
        points: np.ndarray = (
            np.asarray(self.first.position)
            + np.outer(k * self.slice_spacing, self.first.normal)
            + np.outer(i * row_spacing, self.first.column_direction)
            + np.outer(j * col_spacing, self.first.row_direction)
        )
        return points

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Millimetres per step along (slice, row, column)."""
        row_spacing, col_spacing = self.first.pixel_spacing
        return (self.slice_spacing, float(row_spacing), float(col_spacing))


def resample(
    volume: np.ndarray,
    series: SeriesGeometry,
    box: tuple[slice, slice, slice],
    voxel_mm: float,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, Grid]:
    """The part ``box`` of the volume on an isotropic grid of ``voxel_mm`` (linear interpolation).

    ``start`` (fractional indices, within the box) moves the grid's first point: a grid
    laid over a larger box then samples the voxels of a smaller one where a grid over
    the smaller box alone would."""
    spacing = np.array(series.spacing)
    if start is None:
        start = np.array([s.start for s in box], dtype=float)
    extent = np.array([s.stop - s.start - 1 for s in box], dtype=float) * spacing
    shape = tuple(int(n) for n in np.floor(extent / voxel_mm).astype(int) + 1)
    step = voxel_mm / spacing
    resampled = ndimage.affine_transform(
        volume, step, offset=start, output_shape=shape, order=1, mode="nearest", prefilter=False
    ).astype(np.float32, copy=False)
    first = series.first
    axes = np.array([first.normal, first.column_direction, first.row_direction], dtype=float)
    origin = series.raw_to_patient(start[None, :])[0]
    return resampled, Grid(origin, axes, voxel_mm)
