"""Rasterise the phantom's tubes and ellipsoids into one image plane.

Why per plane: a series is written one slice at a time, so only one slice is ever in
memory, and every field below is linear in the pixel indices, so a slice costs a few
vectorised passes over a bounding box. Edges ramp over ``EDGE_MM`` like partial
volume on a real scanner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .phantom_layout import Blob, Tube

EDGE_MM = 0.8


@dataclass(frozen=True)
class Plane:
    """A slice plane: pixel (i, j) lies at
    ``origin + j * col_spacing * row_direction + i * row_spacing * column_direction``.
    """

    origin: np.ndarray
    row_direction: np.ndarray
    column_direction: np.ndarray
    row_spacing: float
    col_spacing: float
    rows: int
    columns: int

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_direction, self.column_direction)

    def pixel_of(self, point: np.ndarray) -> tuple[float, float]:
        offset = point - self.origin
        return float(offset @ self.column_direction) / self.row_spacing, float(
            offset @ self.row_direction
        ) / self.col_spacing


Box = tuple[int, int, int, int]


def _linear(plane: Plane, point: np.ndarray, vector: np.ndarray, box: Box) -> np.ndarray:
    """(P(i, j) - point) . vector over the box, in the smallest broadcastable shape."""
    i0, i1, j0, j1 = box
    value = np.full((1, 1), float((plane.origin - point) @ vector), dtype=np.float32)
    along_j = plane.col_spacing * float(plane.row_direction @ vector)
    along_i = plane.row_spacing * float(plane.column_direction @ vector)
    if abs(along_j) > 1e-9:
        value = value + (along_j * np.arange(j0, j1, dtype=np.float32))[None, :]
    if abs(along_i) > 1e-9:
        value = value + (along_i * np.arange(i0, i1, dtype=np.float32))[:, None]
    return value


def _box(plane: Plane, points: list[np.ndarray], margin_mm: float) -> Box | None:
    pixels = np.array([plane.pixel_of(p) for p in points])
    i0 = int(np.floor(pixels[:, 0].min() - margin_mm / plane.row_spacing)) - 1
    i1 = int(np.ceil(pixels[:, 0].max() + margin_mm / plane.row_spacing)) + 2
    j0 = int(np.floor(pixels[:, 1].min() - margin_mm / plane.col_spacing)) - 1
    j1 = int(np.ceil(pixels[:, 1].max() + margin_mm / plane.col_spacing)) + 2
    i0, j0 = max(i0, 0), max(j0, 0)
    i1, j1 = min(i1, plane.rows), min(j1, plane.columns)
    return (i0, i1, j0, j1) if i0 < i1 and j0 < j1 else None


def draw_tube(image: np.ndarray, plane: Plane, tube: Tube) -> None:
    start, end = np.array(tube.start), np.array(tube.end)
    reach = tube.radius + EDGE_MM
    normal = plane.normal
    depth_start, depth_end = (
        float((start - plane.origin) @ normal),
        float((end - plane.origin) @ normal),
    )
    # Keep only the part of the tube within `reach` of this plane.
    if depth_start == depth_end:
        if abs(depth_start) > reach:
            return
        t_low, t_high = 0.0, 1.0
    else:
        ends = sorted(
            (
                (-reach - depth_start) / (depth_end - depth_start),
                (reach - depth_start) / (depth_end - depth_start),
            )
        )
        t_low, t_high = max(ends[0], 0.0), min(ends[1], 1.0)
        if t_low > t_high:
            return
    box = _box(plane, [start + t_low * (end - start), start + t_high * (end - start)], reach)
    if box is None:
        return
    direction = end - start
    length_sq = float(direction @ direction)
    squared = sum(_linear(plane, start, axis, box) ** 2 for axis in np.eye(3))
    if length_sq > 0:
        along = _linear(plane, start, direction, box)
        t = np.clip(along / np.float32(length_sq), 0.0, 1.0)
        squared = squared - 2.0 * t * along + t * t * np.float32(length_sq)
    distance = np.sqrt(np.maximum(squared, 0.0))
    _paint(image, box, np.clip((tube.radius - distance) / EDGE_MM + 0.5, 0.0, 1.0) * tube.level)


def draw_blob(image: np.ndarray, plane: Plane, blob: Blob) -> None:
    centre = np.array(blob.centre)
    axes = [np.array(a) for a in blob.axes]

    def extent(v: np.ndarray) -> float:
        return float(np.sqrt(sum((s * float(a @ v)) ** 2 for a, s in zip(axes, blob.semi, strict=True))))

    if abs(float((centre - plane.origin) @ plane.normal)) > extent(plane.normal) + EDGE_MM:
        return
    margin = max(extent(plane.row_direction), extent(plane.column_direction)) + EDGE_MM
    box = _box(plane, [centre], margin)
    if box is None:
        return
    scaled = sum(_linear(plane, centre, a / s, box) ** 2 for a, s in zip(axes, blob.semi, strict=True))
    radius = np.sqrt(scaled)
    _paint(image, box, np.clip((1.0 - radius) * min(blob.semi) / EDGE_MM + 0.5, 0.0, 1.0) * blob.level)


def _paint(image: np.ndarray, box: Box, values: np.ndarray) -> None:
    i0, i1, j0, j1 = box
    target = image[i0:i1, j0:j1]
    np.maximum(target, values, out=target)
