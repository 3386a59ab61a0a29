"""What the viewer draws around a picture: the patient direction at each edge and a scale bar.

DICOM patient coordinates (PS3.3 C.7.6.2.1.1) are LPS: +x towards the patient's Left, +y
Posterior, +z Head. The first Image Orientation (Patient) triplet points along a row (towards
increasing column index, i.e. the picture's right edge); the second along a column (towards
increasing row index, the bottom edge). An edge is labelled with the directions its vector
points to, the largest component first, so an oblique plane reads e.g. "LP".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Components below this (about 6 degrees off the plane) are left out of an edge's label.
OBLIQUE_COMPONENT = 0.1
_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))  # (negative, positive) for x, y, z
SCALE_STEPS_MM = (1, 2, 5, 10, 20, 25, 50, 100, 200, 500)
# A bar takes at most this share of the picture's width, so it never hides much of it.
SCALE_MAX_FRACTION = 0.3
# Plausible pixel spacing for a clinical picture (mm): outside it the header is wrong.
SPACING_RANGE_MM = (0.01, 50.0)


@dataclass(frozen=True)
class EdgeMarkers:
    top: str
    bottom: str
    left: str
    right: str

    def as_dict(self) -> dict[str, str]:
        return {"top": self.top, "bottom": self.bottom, "left": self.left, "right": self.right}


# The MIP is always turned to head at the top and the patient's right on the viewer's left.
MIP_MARKERS = EdgeMarkers(top="H", bottom="F", left="R", right="L")


@dataclass(frozen=True)
class ScaleBar:
    length_mm: float
    fraction: float  # of the picture's width

    @property
    def label(self) -> str:
        return f"{self.length_mm:g} mm"

    def as_dict(self) -> dict[str, object]:
        return {"mm": self.length_mm, "fraction": self.fraction, "label": self.label}


def direction_letters(vector: Sequence[float]) -> str:
    """The patient directions a vector points to, largest first ("" for no usable vector)."""
    components = _finite_triplet(vector)
    if components is None:
        return ""
    norm = math.hypot(*components)
    if norm < 1e-6:
        return ""
    order = sorted(range(3), key=lambda axis: -abs(components[axis]))
    return "".join(
        _LETTERS[axis][components[axis] > 0] for axis in order if abs(components[axis]) / norm >= OBLIQUE_COMPONENT
    )


def edge_markers(orientation: Sequence[float] | None) -> EdgeMarkers | None:
    """The letters for the four edges of a picture with this Image Orientation (Patient), or None
    when the orientation is missing or not two usable directions."""
    if orientation is None or len(orientation) != 6:
        return None
    row, column = _finite_triplet(orientation[:3]), _finite_triplet(orientation[3:])
    if row is None or column is None:
        return None
    right, bottom = direction_letters(row), direction_letters(column)
    left, top = direction_letters([-v for v in row]), direction_letters([-v for v in column])
    if not (right and bottom and left and top):
        return None
    return EdgeMarkers(top=top, bottom=bottom, left=left, right=right)


def scale_bar(pixel_spacing: Sequence[float] | None, columns: int | None) -> ScaleBar | None:
    """A bar of a round length in mm for a picture `columns` pixels wide, or None when the spacing
    (DICOM order: between rows, between columns) is missing or implausible: no bar beats a wrong one."""
    if not spacing_is_valid(pixel_spacing) or not columns or columns < 1:
        return None
    assert pixel_spacing is not None
    width_mm = float(pixel_spacing[1]) * columns
    fitting = [step for step in SCALE_STEPS_MM if step <= width_mm * SCALE_MAX_FRACTION]
    if not fitting:
        return None
    length = fitting[-1]
    return ScaleBar(length_mm=float(length), fraction=length / width_mm)


def spacing_is_valid(pixel_spacing: Sequence[float] | None) -> bool:
    if pixel_spacing is None or isinstance(pixel_spacing, str | bytes):
        return False
    try:
        values = [float(v) for v in pixel_spacing]
    except (TypeError, ValueError):
        return False
    low, high = SPACING_RANGE_MM
    return len(values) == 2 and all(math.isfinite(v) and low <= v <= high for v in values)


def _finite_triplet(vector: Sequence[float]) -> tuple[float, float, float] | None:
    try:
        values = tuple(float(v) for v in vector)
    except (TypeError, ValueError):
        return None
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        return None
    return values[0], values[1], values[2]
