"""Slices to a volume, and the coronal maximum intensity projection (MIP).

Which axis makes a *coronal* MIP depends on how the series was acquired: the
projection runs along the patient's anterior-posterior (y) axis, so

* coronal or coronal-oblique slices (normal mostly along y, the usual 3D MRCP) are
  projected *through the slices*;
* axial slices (normal along z) are projected along whichever in-plane axis is most
  anterior-posterior (normally the rows); each slice gives one line of the MIP;
* sagittal slices likewise, each slice giving one column.

The result is then turned (transposed/flipped only, never resampled) to the usual
display: superior at the top, the patient's right on the viewer's left. Every MIP
pixel remembers the slice, row and column its maximum came from, so a click on the
MIP maps back to a patient point (see ``measure.mip_point_to_patient``).

Memory matters at ingest: :class:`IncrementalMip` takes one slice at a time and
keeps only the running maximum, so a series never has to be stacked in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .geometry import Geometry, MissingGeometry, Vector, dot
from .header import InstanceHeader

THROUGH_SLICES = "through slices"
ALONG_ROWS = "along rows"
ALONG_COLUMNS = "along columns"
_PARALLEL = 0.999  # cosine above which two slice normals count as the same


def sort_slices(headers: Sequence[InstanceHeader]) -> list[InstanceHeader]:
    """Order slices along their normal by ImagePositionPatient, not InstanceNumber.

    Instance numbers are only a hint (some scanners number in acquisition order, and a
    merged export can restart them); the position along the normal is the geometry.
    Raises ``MissingGeometry`` if a slice cannot be placed and ``ValueError`` if the
    slices are not parallel.
    """
    if not headers:
        return []
    geometries = [Geometry.from_header(h) for h in headers]
    normal = np.asarray(geometries[0].normal)
    for header, geometry in zip(headers, geometries, strict=True):
        if abs(float(np.dot(normal, geometry.normal))) < _PARALLEL:
            raise ValueError(f"{header.name}: slice is not parallel to the others")
    keys = [
        (float(np.dot(g.position, normal)), h.instance_number or 0, i)
        for i, (h, g) in enumerate(zip(headers, geometries, strict=True))
    ]
    return [headers[k[2]] for k in sorted(keys)]


def slice_spacing(headers: Sequence[InstanceHeader]) -> float | None:
    """Median distance between neighbouring sorted slices (None for fewer than two)."""
    ordered = sort_slices(headers)
    if len(ordered) < 2:
        return None
    normal = np.asarray(Geometry.from_header(ordered[0]).normal)
    depths = np.array([np.dot(Geometry.from_header(h).position, normal) for h in ordered])
    return float(np.median(np.diff(depths)))


def stack(pixels_list: Sequence[np.ndarray]) -> np.ndarray:
    """3D float32 array (slice, row, column) from equally sized 2D slices."""
    if not pixels_list:
        raise ValueError("no slices to stack")
    shape = pixels_list[0].shape
    for index, pixels in enumerate(pixels_list):
        if pixels.ndim != 2 or pixels.shape != shape:
            raise ValueError(f"slice {index} has shape {pixels.shape}, expected {shape}")
    return np.stack(pixels_list).astype(np.float32, copy=False)


def maximum_intensity_projection(volume: np.ndarray, axis: int) -> np.ndarray:
    projection: np.ndarray = np.max(volume, axis=axis)
    return projection


def coronal_axis(geometry: Geometry) -> int:
    """Axis of a (slice, row, column) volume that runs anterior-posterior."""
    candidates = (geometry.normal, geometry.column_direction, geometry.row_direction)
    return int(np.argmax([abs(direction[1]) for direction in candidates]))


@dataclass(frozen=True)
class Mip:
    """A coronal MIP and, for each of its pixels, where the maximum came from.

    ``slice_index`` counts slices in the order they were added; ``geometries`` is in
    the same order. ``pixel_spacing`` is (between rows, between columns) of the image;
    it is not in mm when a slice had no usable Pixel Spacing (``spacing_known`` False).
    """

    image: np.ndarray
    slice_index: np.ndarray
    row_index: np.ndarray
    col_index: np.ndarray
    geometries: tuple[Geometry, ...]
    projection: str
    pixel_spacing: tuple[float, float]

    @property
    def spacing_known(self) -> bool:
        return all(geometry.spacing_known for geometry in self.geometries)


class IncrementalMip:
    """Coronal MIP built one slice at a time (slices may arrive in any order)."""

    def __init__(self) -> None:
        self._geometries: list[Geometry] = []
        self._projection = ""
        self._image: np.ndarray | None = None
        self._source: np.ndarray | None = None
        self._brighter: np.ndarray | None = None
        self._scratch: np.ndarray | None = None
        self._normal: Vector | None = None
        self._lines: list[np.ndarray] = []
        self._args: list[np.ndarray] = []

    @property
    def count(self) -> int:
        return len(self._geometries)

    def add(self, pixels: np.ndarray, geometry: Geometry) -> None:
        if pixels.ndim != 2:
            raise ValueError(f"expected one 2D slice, got shape {pixels.shape}")
        if not self._geometries:
            self._projection = (THROUGH_SLICES, ALONG_ROWS, ALONG_COLUMNS)[coronal_axis(geometry)]
        else:
            self._check_compatible(pixels, geometry)
        index = len(self._geometries)
        self._geometries.append(geometry)
        if self._projection == THROUGH_SLICES:
            self._add_through(pixels, index)
        else:
            axis = 0 if self._projection == ALONG_ROWS else 1
            self._lines.append(pixels.max(axis=axis).astype(np.float32))
            self._args.append(pixels.argmax(axis=axis).astype(np.int32))

    def _check_compatible(self, pixels: np.ndarray, geometry: Geometry) -> None:
        first = self._geometries[0]
        if pixels.shape != (first.rows, first.columns):
            raise ValueError(f"slice shape {pixels.shape} differs from {(first.rows, first.columns)}")
        if self._normal is None:
            self._normal = first.normal
        if abs(dot(self._normal, geometry.normal)) < _PARALLEL:
            raise ValueError("slice is not parallel to the first slice")

    def _add_through(self, pixels: np.ndarray, index: int) -> None:
        # The four arrays are made together on the first slice.
        image, source, brighter, scratch = self._image, self._source, self._brighter, self._scratch
        if image is None or source is None or brighter is None or scratch is None:
            self._image = pixels.astype(np.float32, copy=True)
            self._source = np.zeros(pixels.shape, dtype=np.uint16)
            self._brighter = np.empty(pixels.shape, dtype=bool)
            self._scratch = np.empty(pixels.shape, dtype=np.uint16)
            return
        if index > np.iinfo(source.dtype).max:
            source = self._source = source.astype(np.int32)
            scratch = self._scratch = np.empty(pixels.shape, dtype=np.int32)
        # Four branch-free passes, all in place (a masked copy is ten times slower): which
        # pixels are brighter (strictly, so ties keep the earlier slice, like argmax), the new
        # maximum (fmax: a NaN pixel never wins, as with the comparison), and the index. The
        # index grows with every slice, so "index where brighter, else what was there" is the
        # maximum of the old index and (brighter x index).
        np.greater(pixels, image, out=brighter)
        np.fmax(image, pixels, out=image, casting="unsafe")
        np.multiply(brighter, source.dtype.type(index), out=scratch)
        np.maximum(source, scratch, out=source)

    def result(self) -> Mip:
        if not self._geometries:
            raise ValueError("no slices were added")
        first = self._geometries[0]
        if self._projection == THROUGH_SLICES:
            image, source = self._image, self._source
            if image is None or source is None:  # made with the first slice
                raise ValueError("no slices were added")
            rows, cols = image.shape
            arrays = [
                image.copy(),
                source.astype(np.int32),
                np.broadcast_to(np.arange(rows, dtype=np.int32)[:, None], (rows, cols)),
                np.broadcast_to(np.arange(cols, dtype=np.int32)[None, :], (rows, cols)),
            ]
            directions = (first.column_direction, first.row_direction)
            spacing = first.pixel_spacing
        else:
            arrays, directions, spacing = self._stacked_lines()
        return _oriented(arrays, directions, spacing, tuple(self._geometries), self._projection)

    def _stacked_lines(self) -> tuple[list[np.ndarray], tuple[Vector, Vector], tuple[float, float]]:
        first = self._geometries[0]
        normal = np.asarray(first.normal)
        depths = np.array([np.dot(g.position, normal) for g in self._geometries])
        order = np.argsort(depths, kind="stable")
        image = np.stack([self._lines[i] for i in order])
        args = np.stack([self._args[i] for i in order])
        source = np.broadcast_to(order.astype(np.int32)[:, None], image.shape)
        across = np.broadcast_to(np.arange(image.shape[1], dtype=np.int32)[None, :], image.shape)
        gap = float(np.median(np.diff(depths[order]))) if len(order) > 1 else 1.0
        if self._projection == ALONG_ROWS:
            arrays = [image, source, args, across]
            return arrays, (first.normal, first.row_direction), (gap, first.pixel_spacing[1])
        arrays = [image, source, across, args]
        return arrays, (first.normal, first.column_direction), (gap, first.pixel_spacing[0])


def coronal_mip(volume: np.ndarray, geometries: Sequence[Geometry]) -> Mip:
    """Coronal MIP of a stacked volume; same result as feeding its slices one by one."""
    if len(volume) != len(geometries):
        raise ValueError("one geometry per slice is needed")
    builder = IncrementalMip()
    for pixels, geometry in zip(volume, geometries, strict=True):
        builder.add(pixels, geometry)
    return builder.result()


def _oriented(
    arrays: list[np.ndarray],
    directions: tuple[Vector, Vector],
    spacing: tuple[float, float],
    geometries: tuple[Geometry, ...],
    projection: str,
) -> Mip:
    """Turn the arrays so rows run head to feet and columns run patient right to left."""
    down, across = directions
    if abs(across[2]) > abs(down[2]):
        arrays = [a.T for a in arrays]
        down, across = across, down
        spacing = (spacing[1], spacing[0])
    if down[2] > 0:
        arrays = [a[::-1, :] for a in arrays]
    if across[0] < 0:
        arrays = [a[:, ::-1] for a in arrays]
    image, source, rows, cols = (np.ascontiguousarray(a) for a in arrays)
    return Mip(image, source, rows, cols, geometries, projection, (float(spacing[0]), float(spacing[1])))


__all__ = [
    "IncrementalMip",
    "MissingGeometry",
    "Mip",
    "coronal_axis",
    "coronal_mip",
    "maximum_intensity_projection",
    "slice_spacing",
    "sort_slices",
    "stack",
]
