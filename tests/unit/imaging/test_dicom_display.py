"""Edge markers from Image Orientation (Patient) and the scale bar from Pixel Spacing."""

from __future__ import annotations

import math

import pytest

from imaging.dicom.display import (
    MIP_MARKERS,
    EdgeMarkers,
    direction_letters,
    edge_markers,
    scale_bar,
    spacing_is_valid,
)

AXIAL = [1, 0, 0, 0, 1, 0]
CORONAL = [1, 0, 0, 0, 0, -1]
SAGITTAL = [0, 1, 0, 0, 0, -1]


def test_axial_reads_right_left_anterior_posterior():
    # Rows run towards the patient's left, columns towards the back: seen from the feet.
    assert edge_markers(AXIAL) == EdgeMarkers(top="A", bottom="P", left="R", right="L")


def test_coronal_reads_head_at_the_top():
    assert edge_markers(CORONAL) == EdgeMarkers(top="H", bottom="F", left="R", right="L")


def test_sagittal_reads_anterior_on_the_left():
    assert edge_markers(SAGITTAL) == EdgeMarkers(top="H", bottom="F", left="A", right="P")


def test_a_flipped_axial_swaps_the_letters():
    assert edge_markers([-1, 0, 0, 0, -1, 0]) == EdgeMarkers(top="P", bottom="A", left="L", right="R")


def test_an_oblique_plane_names_both_directions_largest_first():
    angle = math.radians(30)
    row = [math.cos(angle), math.sin(angle), 0]  # mostly left, partly posterior
    column = [-math.sin(angle), math.cos(angle), 0]
    markers = edge_markers(row + column)
    assert markers == EdgeMarkers(top="AL", bottom="PR", left="RA", right="LP")


def test_a_coronal_oblique_tilted_towards_the_feet():
    angle = math.radians(20)
    column = [0, math.sin(angle), -math.cos(angle)]  # down, tilted backwards
    assert edge_markers([1, 0, 0, *column]) == EdgeMarkers(top="HA", bottom="FP", left="R", right="L")


def test_a_slight_tilt_keeps_the_plain_letters():
    angle = math.radians(3)
    assert edge_markers([math.cos(angle), math.sin(angle), 0, 0, 0, -1]).right == "L"


def test_unnormalised_directions_are_read_by_direction():
    assert edge_markers([2, 0, 0, 0, 0, -5]) == edge_markers(CORONAL)


@pytest.mark.parametrize(
    "orientation",
    [None, [], [1, 0, 0], [1, 0, 0, 0, 0, 0], [math.nan, 0, 0, 0, 1, 0], ["a", 0, 0, 0, 1, 0], [1, 0, 0, 0, 1]],
)
def test_no_markers_without_two_directions(orientation):
    assert edge_markers(orientation) is None


def test_direction_letters_of_a_zero_vector_is_empty():
    assert direction_letters([0, 0, 0]) == ""
    assert direction_letters([0, 0, 1]) == "H"


def test_the_mip_is_shown_head_up_right_on_the_left():
    assert MIP_MARKERS.as_dict() == {"top": "H", "bottom": "F", "left": "R", "right": "L"}


def test_scale_bar_is_a_round_length_within_a_third_of_the_width():
    bar = scale_bar([0.78125, 0.78125], 384)  # 300 mm wide
    assert bar is not None
    assert bar.length_mm == 50 and bar.label == "50 mm"
    assert bar.fraction == pytest.approx(50 / 300)


def test_scale_bar_uses_the_spacing_between_columns():
    # DICOM order: (between rows, between columns); the bar is horizontal.
    bar = scale_bar([2.0, 0.5], 200)  # 100 mm wide
    assert bar is not None and bar.length_mm == 25 and bar.fraction == pytest.approx(0.25)


def test_a_small_field_gets_a_short_bar():
    bar = scale_bar([0.1, 0.1], 64)  # 6.4 mm wide
    assert bar is not None and bar.length_mm == 1


@pytest.mark.parametrize(
    "spacing",
    [
        None,
        [],
        [0.8],
        [0.8, 0.8, 0.8],
        [0, 0.8],
        [0.8, -1],
        [0.8, math.inf],
        [0.8, math.nan],
        ["x", 1],
        [0.8, 500],
        "0.8",
    ],
)
def test_no_bar_for_missing_or_implausible_spacing(spacing):
    assert not spacing_is_valid(spacing)
    assert scale_bar(spacing, 256) is None


def test_no_bar_without_columns():
    assert scale_bar([0.8, 0.8], 0) is None
