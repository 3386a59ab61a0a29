"""Pixel to patient mapping (PS3.3 C.7.6.2.1.1) and distances, checked by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imaging.dicom import Geometry, distance_mm, nearest_pixel, patient_to_pixel, pixel_to_patient


def geometry(position=(10.0, 20.0, 30.0), rows=(0.0, 1.0, 0.0), columns=(0.0, 0.0, -1.0), spacing=(2.0, 0.5)):
    return Geometry(position, rows, columns, spacing, rows=100, columns=200)


def test_pixel_spacing_order_and_directions_by_hand():
    # IOP row direction (0,1,0) is where the column index grows; PixelSpacing[1] = 0.5 mm
    # between columns. Column direction (0,0,-1) is where the row index grows;
    # PixelSpacing[0] = 2.0 mm between rows.
    plane = geometry()
    assert pixel_to_patient(plane, 0, 0) == (10.0, 20.0, 30.0)
    assert pixel_to_patient(plane, 3, 4) == (10.0, 22.0, 24.0)  # y + 4 * 0.5, z - 3 * 2.0
    assert pixel_to_patient(plane, 0.5, 0) == (10.0, 20.0, 29.0)  # sub-pixel click


def test_oblique_plane_by_hand():
    c = math.cos(math.radians(30))
    s = math.sin(math.radians(30))
    plane = Geometry((0.0, 0.0, 0.0), (c, s, 0.0), (0.0, 0.0, -1.0), (1.5, 1.0), rows=10, columns=10)
    x, y, z = pixel_to_patient(plane, 2, 10)
    assert (x, y, z) == pytest.approx((10 * c, 10 * s, -3.0))
    assert plane.normal == pytest.approx((-s, c, 0.0))


def test_distance_between_points_on_different_slices():
    upper = geometry(position=(0.0, 0.0, 0.0))
    lower = geometry(position=(12.0, 0.0, 0.0))  # 12 mm further along the normal
    p = pixel_to_patient(upper, 0, 0)
    q = pixel_to_patient(lower, 0, 10)  # 5 mm along y
    assert distance_mm(p, q) == pytest.approx(13.0)  # 5-12-13 triangle
    assert distance_mm((0, 0, 0), (3, 4, 0)) == 5.0


coordinates = st.floats(min_value=-500, max_value=500, allow_nan=False)


@given(row=st.floats(0, 99), col=st.floats(0, 199), x=coordinates, y=coordinates, z=coordinates)
def test_patient_to_pixel_inverts_pixel_to_patient(row, col, x, y, z):
    plane = geometry(position=(x, y, z))
    back_row, back_col, depth = patient_to_pixel(plane, pixel_to_patient(plane, row, col))
    assert back_row == pytest.approx(row, abs=1e-6)
    assert back_col == pytest.approx(col, abs=1e-6)
    assert depth == pytest.approx(0.0, abs=1e-6)


def test_nearest_pixel_picks_the_closest_slice_and_pixel_centre():
    slices = [geometry(position=(float(k) * 1.5, 20.0, 30.0)) for k in range(4)]
    index, row, col = nearest_pixel(slices, (3.2, 21.3, 25.1))
    assert (index, row, col) == (
        2,
        2,
        3,
    )  # x 3.2 -> slice at 3.0; z 30-25.1=4.9 mm -> row 2.45; y 1.3 mm -> col 2.6
    assert nearest_pixel(slices, (100.0, -999.0, 999.0)) == (3, 0, 0)  # clamped to the image
    with pytest.raises(ValueError):
        nearest_pixel([], (0, 0, 0))
