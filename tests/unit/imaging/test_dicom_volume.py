"""Slice ordering, stacking and the coronal MIP (whole-volume and incremental)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pydicom.data
import pytest

from imaging.dicom import (
    Geometry,
    IncrementalMip,
    MissingGeometry,
    coronal_axis,
    coronal_mip,
    maximum_intensity_projection,
    mip_point_to_patient,
    pixel_to_patient,
    read_header,
    slice_spacing,
    sort_slices,
    stack,
)

MR_SMALL = Path(pydicom.data.__file__).parent / "test_files" / "MR_small.dcm"
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def headers_for(orientation, count=5, gap=1.5, rows=4, columns=6):
    """Headers of a stack of slices at known positions along the normal."""
    base = read_header(MR_SMALL, name="base")
    normal = np.cross(orientation[:3], orientation[3:])
    origin = np.array([-20.0, 35.0, 80.0])
    return [
        dataclasses.replace(
            base,
            name=f"slice{k}",
            rows=rows,
            columns=columns,
            pixel_spacing=(0.8, 0.6),
            image_orientation=orientation,
            image_position=tuple(float(v) for v in origin + k * gap * normal),
            instance_number=count - k,  # deliberately the reverse of the geometry
        )
        for k in range(count)
    ]


def test_sort_uses_position_along_the_normal_not_instance_number():
    headers = headers_for(CORONAL)
    shuffled = [headers[i] for i in (3, 0, 4, 2, 1)]
    assert [h.name for h in sort_slices(shuffled)] == [h.name for h in headers]
    assert slice_spacing(shuffled) == pytest.approx(1.5)


def test_sort_refuses_slices_it_cannot_place():
    headers = headers_for(AXIAL)
    with pytest.raises(MissingGeometry):
        sort_slices([dataclasses.replace(headers[0], image_position=None), headers[1]])
    with pytest.raises(ValueError, match="not parallel"):
        sort_slices([headers[0], dataclasses.replace(headers[1], image_orientation=CORONAL)])


def test_stack_and_mip_equal_numpy_max():
    rng = np.random.default_rng(0)
    slices = [rng.random((4, 6)).astype(np.float32) for _ in range(5)]
    volume = stack(slices)
    assert volume.shape == (5, 4, 6) and volume.dtype == np.float32
    for axis in range(3):
        np.testing.assert_array_equal(maximum_intensity_projection(volume, axis), np.max(volume, axis=axis))
    with pytest.raises(ValueError):
        stack([slices[0], np.zeros((5, 6))])


def test_coronal_axis_follows_the_orientation():
    assert [coronal_axis(Geometry.from_header(headers_for(o)[0])) for o in (CORONAL, AXIAL, SAGITTAL)] == [0, 1, 2]


def test_incremental_mip_of_coronal_slices_is_the_max_through_the_slices():
    headers = headers_for(CORONAL)
    geometries = [Geometry.from_header(h) for h in headers]
    rng = np.random.default_rng(1)
    volume = rng.integers(0, 50, (5, 4, 6)).astype(np.float32)  # ties on purpose
    mip = coronal_mip(volume, geometries)
    assert mip.projection == "through slices"
    np.testing.assert_array_equal(mip.image, np.max(volume, axis=0))
    np.testing.assert_array_equal(mip.slice_index, np.argmax(volume, axis=0))
    assert mip.pixel_spacing == (0.8, 0.6)
    for order in itertools.islice(itertools.permutations(range(5)), 0, 120, 17):
        builder = IncrementalMip()
        for k in order:
            builder.add(volume[k], geometries[k])
        assert builder.count == 5
        np.testing.assert_array_equal(builder.result().image, np.max(volume, axis=0))


def test_axial_slices_are_projected_front_to_back_with_the_head_on_top():
    headers = headers_for(AXIAL)
    geometries = [Geometry.from_header(h) for h in headers]
    rng = np.random.default_rng(2)
    volume = rng.random((5, 4, 6)).astype(np.float32)
    builder = IncrementalMip()
    for k in (2, 4, 0, 3, 1):
        builder.add(volume[k], geometries[k])
    mip = builder.result()
    assert mip.projection == "along rows"
    # Axial slices go up the body (normal +z); the top image row is the highest slice.
    np.testing.assert_array_equal(mip.image, np.max(volume, axis=1)[::-1])
    assert mip.pixel_spacing == (1.5, 0.6)


@pytest.mark.parametrize("orientation", [CORONAL, AXIAL, SAGITTAL, (-1.0, 0.0, 0.0, 0.0, 0.0, 1.0)])
def test_mip_is_displayed_head_up_and_patient_right_on_the_left(orientation):
    headers = headers_for(orientation, count=4)
    geometries = [Geometry.from_header(h) for h in headers]
    volume = np.random.default_rng(3).random((4, 4, 6)).astype(np.float32)
    mip = coronal_mip(volume, geometries)
    points = np.array(
        [[mip_point_to_patient(mip, r, c) for c in range(mip.image.shape[1])] for r in range(mip.image.shape[0])]
    )
    assert np.all(np.diff(points[:, :, 2], axis=0) < 0)  # down the image = towards the feet
    assert np.all(np.diff(points[:, :, 0], axis=1) > 0)  # across = towards the patient's left
    # Each MIP pixel is the value of the voxel it points back to.
    for r, c in [(0, 0), (1, 2), (mip.image.shape[0] - 1, mip.image.shape[1] - 1)]:
        k, i, j = mip.slice_index[r, c], mip.row_index[r, c], mip.col_index[r, c]
        assert mip.image[r, c] == volume[k, i, j]
        assert mip_point_to_patient(mip, r, c) == pixel_to_patient(geometries[k], i, j)


def test_incremental_mip_refuses_mismatched_slices():
    headers = headers_for(CORONAL)
    builder = IncrementalMip()
    builder.add(np.zeros((4, 6)), Geometry.from_header(headers[0]))
    with pytest.raises(ValueError):
        builder.add(np.zeros((5, 6)), Geometry.from_header(headers[1]))
    with pytest.raises(ValueError, match="not parallel"):
        builder.add(np.zeros((4, 6)), Geometry.from_header(headers_for(AXIAL)[1]))
    with pytest.raises(ValueError):
        IncrementalMip().result()


@pytest.mark.parametrize("orientation", [CORONAL, AXIAL], ids=["through-slices", "along-rows"])
def test_slices_without_pixel_spacing_are_ordered_and_projected_but_not_in_mm(orientation):
    headers = headers_for(orientation)
    placed = [dataclasses.replace(h, pixel_spacing=None) for h in headers]
    geometries = [Geometry.from_header(h) for h in placed]
    assert not any(g.spacing_known for g in geometries)
    assert all(Geometry.from_header(h).spacing_known for h in headers)
    assert [h.name for h in sort_slices(placed[::-1])] == [h.name for h in headers]
    rng = np.random.default_rng(1)
    volume = rng.normal(size=(len(headers), 4, 6)).astype(np.float32)
    blind = coronal_mip(volume, geometries)
    known = coronal_mip(volume, [Geometry.from_header(h) for h in headers])
    assert known.spacing_known and not blind.spacing_known
    np.testing.assert_array_equal(blind.image, known.image)  # the same maximum, only the mm differ
