"""Enhanced MR (one multi-frame file per series): every frame is a slice with its own plane and rescale.

Real files: pydicom-data's Enhanced MR (`emri_small*.dcm`, in five transfer syntaxes) and the Legacy
Converted Enhanced MR that highdicom builds from the phantom's single-frame series; the reader must
give the same slices, the same MIP and the same distances as from the single-frame files.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from highdicom.legacy import LegacyConvertedEnhancedMRImage
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from imaging.dicom import (
    IncrementalMip,
    MissingGeometry,
    generate_series,
    looks_like_mrcp,
    mip_point_to_patient,
    nearest_pixel,
    patient_to_pixel,
    pixel_to_patient,
    read_header,
    read_instance,
    sort_slices,
    warnings,
)
from imaging.dicom.geometry import Geometry, frame_geometries
from imaging.dicom.reader import open_frames

CASES = Path(__file__).resolve().parents[2] / "data" / "cases"
EMRI = [
    "emri_small.dcm",
    "emri_small_big_endian.dcm",
    "emri_small_RLE.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
]


def emri(name: str = "emri_small.dcm") -> Path:
    found = get_testdata_file(name, download=False)  # pydicom-data installs them locally
    assert found, f"{name} is missing: install pydicom-data"
    return Path(found)


def anatomy() -> dict:
    return json.loads((CASES / "typical_rl_long_rhd.json").read_text())["anatomy"]


@pytest.mark.parametrize("name", EMRI)
@pytest.mark.parametrize("given", ["path", "bytes"])
def test_every_frame_of_a_real_enhanced_mr_is_read_as_pydicom_decodes_it(name, given):
    path = emri(name)
    expected = pydicom.dcmread(path).pixel_array  # stored values; the file has no rescale
    source = path if given == "path" else path.read_bytes()
    with open_frames(source, name=name) as frames:
        header = frames.header
        assert (header.sop_class_uid, header.number_of_frames, len(frames)) == ("1.2.840.10008.5.1.4.1.1.4.1", 10, 10)
        decoded = list(frames)
        assert all(frame.dtype == np.float32 and frame.shape == (64, 64) for frame in decoded)
        assert np.array_equal(np.stack(decoded), expected)
        assert np.array_equal(frames.frame(7), expected[7])
    _, volume = read_instance(path, name=name)
    assert volume.shape == (10, 64, 64) and np.array_equal(volume, expected)


def test_a_real_enhanced_mr_without_positions_is_kept_but_not_placed():
    header = read_header(emri(), name="emri_small.dcm")
    assert header.frame_planes == () and header.image_position is None
    assert "no image position/orientation: the slice cannot be placed in 3D" in warnings(header)
    assert header.mr_acquisition_type == "3D" and header.echo_time is None
    with pytest.raises(MissingGeometry):
        frame_geometries(header)


def _item(**values) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def with_functional_groups(path: Path) -> bytes:
    """The real Enhanced MR with the functional groups a scanner writes: a coronal 3D stack, slope 2
    shared and slope 4 on frame 3, and an effective echo time of 650 ms."""
    ds = pydicom.dcmread(path)
    ds.SharedFunctionalGroupsSequence = [
        _item(
            PixelMeasuresSequence=[_item(PixelSpacing=[0.8, 0.7], SliceThickness=1.2)],
            PlaneOrientationSequence=[_item(ImageOrientationPatient=[1, 0, 0, 0, 0, -1])],
            PixelValueTransformationSequence=[_item(RescaleSlope=2, RescaleIntercept=-100, RescaleType="US")],
            MREchoSequence=[_item(EffectiveEchoTime=650.0)],
        )
    ]
    frames = []
    for index in range(10):
        groups = _item(PlanePositionSequence=[_item(ImagePositionPatient=[-20, 10 + 1.2 * (9 - index), 40])])
        if index == 3:
            groups.PixelValueTransformationSequence = [_item(RescaleSlope=4, RescaleIntercept=0, RescaleType="US")]
        frames.append(groups)
    ds.PerFrameFunctionalGroupsSequence = frames
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_geometry_rescale_and_echo_time_come_from_the_functional_groups():
    data = with_functional_groups(emri())
    stored = pydicom.dcmread(emri()).pixel_array.astype(np.float32)
    header = read_header(data, name="enhanced.dcm")
    assert header.pixel_spacing == (0.8, 0.7) and header.slice_thickness == 1.2
    assert header.image_orientation == (1, 0, 0, 0, 0, -1)
    assert header.image_position == (-20, 10 + 1.2 * 9, 40)
    assert [plane.rescale_slope for plane in header.frame_planes] == [2, 2, 2, 4, 2, 2, 2, 2, 2, 2]
    planes = frame_geometries(header)
    assert [plane.position for plane in planes] == [(-20, 10 + 1.2 * (9 - i), 40) for i in range(10)]
    assert all(plane.pixel_spacing == (0.8, 0.7) and plane.spacing_known for plane in planes)
    with open_frames(data, name="enhanced.dcm") as frames:
        decoded = list(frames)
        assert np.array_equal(frames.frame(3), stored[3] * 4)
    for index, frame in enumerate(decoded):
        expected = stored[index] * 4 if index == 3 else stored[index] * 2 - 100
        assert np.array_equal(frame, expected), index
    # Long effective echo time and a 3D acquisition: an MRCP, although nothing names it so.
    assert header.series_description == "" and header.protocol_name == ""
    is_mrcp, reasons = looks_like_mrcp(header)
    assert is_mrcp and "echo time 650 ms is long (>= 400 ms): heavily T2-weighted" in reasons
    assert warnings(header) == []


def test_frames_without_one_plane_each_are_not_placed():
    ds = pydicom.dcmread(io.BytesIO(with_functional_groups(emri())))
    del ds.PerFrameFunctionalGroupsSequence[4].PlanePositionSequence
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    header = read_header(buffer.getvalue(), name="enhanced.dcm")
    assert header.image_position is None
    assert warnings(header) == [
        "multi-frame image: some frames carry no position or orientation; its frames cannot be placed in 3D"
    ]
    with pytest.raises(MissingGeometry):
        frame_geometries(header)


# ---------------------------------------------------------- the phantom, single-frame and Enhanced


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    folder = tmp_path_factory.mktemp("single")
    return generate_series(
        anatomy(), folder, slices=30, rows=96, columns=80, rescale_slope=2.0, rescale_intercept=-50.0, seed=3
    )


@pytest.fixture(scope="module")
def converted(single, tmp_path_factory):
    """highdicom's Legacy Converted Enhanced MR of the single-frame series (it orders the frames its own way)."""
    image = LegacyConvertedEnhancedMRImage(
        [pydicom.dcmread(path) for path in single.paths],
        series_instance_uid=generate_uid(),
        series_number=2,
        sop_instance_uid=generate_uid(),
        instance_number=1,
    )
    path = tmp_path_factory.mktemp("converted") / "enhanced.dcm"
    image.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def own_enhanced(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    return generate_series(
        anatomy(),
        folder,
        slices=30,
        rows=96,
        columns=80,
        rescale_slope=2.0,
        rescale_intercept=-50.0,
        seed=3,
        enhanced=True,
    )


def _single_slices(single):
    """(geometry, pixels) of each single-frame file, sorted along the normal."""
    read = [read_instance(path, name=path.name) for path in single.paths]
    by_uid = {header.sop_instance_uid: (Geometry.from_header(header), pixels) for header, pixels in read}
    return [by_uid[header.sop_instance_uid] for header in sort_slices([header for header, _ in read])]


def _enhanced_slices(path):
    """(geometry, pixels) of each frame, sorted along the normal as the app sorts slices."""
    with open_frames(path, name=path.name) as frames:
        planes = frame_geometries(frames.header)
        pixels = list(frames)
    normal = planes[0].normal
    order = sorted(range(len(planes)), key=lambda i: np.dot(planes[i].position, normal))
    return [(planes[i], pixels[i]) for i in order]


def _mip(slices):
    builder = IncrementalMip()
    for geometry, pixels in slices:
        builder.add(pixels, geometry)
    return builder.result()


@pytest.mark.parametrize("which", ["highdicom", "phantom"])
def test_an_enhanced_file_gives_the_single_frame_series_slices_mip_and_distances(
    which, single, converted, own_enhanced
):
    path = converted if which == "highdicom" else own_enhanced.paths[0]
    header = read_header(path, name=path.name)
    assert header.number_of_frames == single.slices and looks_like_mrcp(header)[0]
    assert header.echo_time == 700.0 and header.mr_acquisition_type == "3D"
    assert (header.rescale_slope, header.rescale_intercept) == (2.0, -50.0)
    flat, enhanced = _single_slices(single), _enhanced_slices(path)
    assert len(enhanced) == len(flat) == single.slices
    for (flat_plane, flat_pixels), (plane, pixels) in zip(flat, enhanced, strict=True):
        assert np.allclose(plane.position, flat_plane.position, atol=1e-3)
        assert plane.pixel_spacing == flat_plane.pixel_spacing
        assert np.array_equal(pixels, flat_pixels)  # same stored values, same rescale
    flat_mip, mip = _mip(flat), _mip(enhanced)
    assert np.array_equal(mip.image, flat_mip.image)
    assert mip.pixel_spacing == flat_mip.pixel_spacing
    # Distances: a duct measured on the frames and on the files, on the slices and on the MIP.
    spacing = max(single.pixel_spacing)
    for duct in ("RHD", "LHD"):
        ends = (single.ducts[duct].start, single.ducts[duct].end)
        on_frames = _measure_on_slices([p for p, _ in enhanced], ends)
        on_files = _measure_on_slices([p for p, _ in flat], ends)
        assert abs(on_frames - on_files) <= spacing
        assert abs(on_frames - single.ducts[duct].length_mm) <= spacing
        assert abs(_measure_on_mip(mip, ends) - _measure_on_mip(flat_mip, ends)) <= spacing


def _measure_on_slices(planes, ends) -> float:
    points = []
    for end in ends:
        index, _, _ = nearest_pixel(planes, end)
        row, col, _ = patient_to_pixel(planes[index], end)
        points.append(pixel_to_patient(planes[index], row, col))
    return float(np.linalg.norm(np.subtract(*points)))


def _measure_on_mip(mip, ends) -> float:
    first = mip.geometries[0]
    points = []
    for end in ends:
        row, col, _ = patient_to_pixel(first, end)  # coronal: the MIP has the slices' rows and columns
        points.append(mip_point_to_patient(mip, round(row), round(col)))
    return float(np.linalg.norm(np.subtract(*points)))
