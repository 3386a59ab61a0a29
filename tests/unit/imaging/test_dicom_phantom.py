"""The synthetic MRCP phantom: valid DICOM, consistent UIDs, truthful geometry."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from imaging.dicom import (
    Geometry,
    IncrementalMip,
    coronal_mip,
    distance_mm,
    generate_series,
    iter_zip_members,
    load_pixels,
    looks_like_mrcp,
    mip_point_to_patient,
    nearest_pixel,
    patient_to_pixel,
    pixel_to_patient,
    read_header,
    read_instance,
    sort_slices,
    stack,
    warnings,
    write_zip,
)

CASES = Path(__file__).resolve().parents[2] / "data" / "cases"
VALID_CASES = sorted(p for p in CASES.glob("*.json") if not p.name.startswith("invalid"))


def anatomy(name: str = "typical_rl_long_rhd") -> dict:
    return json.loads((CASES / f"{name}.json").read_text())["anatomy"]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    return generate_series(
        anatomy(),
        out,
        study_uid="1.2.826.0.1.3680043.8.498.1",
        series_uid="1.2.826.0.1.3680043.8.498.2",
    )


@pytest.fixture(scope="module")
def headers(series):
    return [read_header(path, name=path.name) for path in series.paths]


def test_every_slice_is_valid_dicom_with_a_preamble(series):
    assert len(series.paths) == 60
    for path in series.paths:
        raw = path.read_bytes()
        assert raw[:128] == b"\0" * 128 and raw[128:132] == b"DICM"
        dataset = pydicom.dcmread(path)  # pydicom's own strict reading
        assert dataset.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
        assert dataset.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID
        assert dataset.pixel_array.shape == (256, 256)
        assert int(dataset.pixel_array.max()) <= 4095


def test_uids_are_consistent(series, headers):
    assert {h.study_instance_uid for h in headers} == {series.study_uid}
    assert {h.series_instance_uid for h in headers} == {series.series_uid}
    assert {h.frame_of_reference_uid for h in headers} == {series.frame_of_reference_uid}
    sop_uids = [h.sop_instance_uid for h in headers]
    assert sop_uids == list(series.sop_instance_uids)
    assert len(set(sop_uids)) == len(sop_uids)
    for uid in [series.study_uid, series.series_uid, series.frame_of_reference_uid, *sop_uids]:
        assert pydicom.uid.UID(uid).is_valid


def test_header_describes_a_heavily_t2_weighted_3d_mrcp(series, headers):
    header = headers[0]
    assert header.modality == "MR"
    assert header.echo_time == 700 and header.repetition_time >= 2500
    assert header.mr_acquisition_type == "3D"
    assert header.series_description == "MRCP 3D" and header.protocol_name == "MRCP 3D SPACE"
    assert header.bits_allocated == 16 and header.bits_stored == 12
    assert header.photometric_interpretation == "MONOCHROME2"
    assert (header.rescale_slope, header.rescale_intercept) == (1.0, 0.0)
    assert header.slice_thickness == 1.5 and header.spacing_between_slices == 1.5
    assert header.pixel_spacing == series.pixel_spacing
    assert header.patient_id == "PHANTOM-0001" and header.patient_name == "Phantom^Donor"
    dataset = pydicom.dcmread(series.paths[0], stop_before_pixels=True)
    assert dataset.ScanningSequence == "SE"
    is_mrcp, reasons = looks_like_mrcp(header)
    assert is_mrcp, reasons
    assert warnings(header) == []


def test_slices_are_stacked_along_the_normal(series, headers):
    ordered = sort_slices(list(reversed(headers)))
    assert [h.name for h in ordered] == [p.name for p in series.paths]
    first = Geometry.from_header(ordered[0])
    for index, header in enumerate(ordered):
        geometry = Geometry.from_header(header)
        offset = np.subtract(geometry.position, first.position)
        np.testing.assert_allclose(offset, index * 1.5 * np.array(first.normal), atol=1e-4)
    np.testing.assert_allclose(first.position, series.first_position, atol=1e-4)


def test_document_lengths_are_the_distance_between_duct_ends(series):
    document = {d["id"]: d for d in anatomy()["ducts"]}
    assert set(series.ducts) == set(document)
    for duct_id, duct in series.ducts.items():
        assert distance_mm(duct.start, duct.end) == pytest.approx(duct.length_mm, abs=1e-9)
        if document[duct_id].get("length_mm") is not None:
            assert duct.length_documented and duct.length_mm == document[duct_id]["length_mm"]
        receiving = series.structures["CHD"] if duct.drains_into == "CHD" else series.ducts[duct.drains_into]
        # The junction lies on the receiving duct, junction_mm below its upper end.
        junction = document[duct_id].get("junction_mm") or 0.0
        assert distance_mm(receiving.start, duct.end) == pytest.approx(min(junction, receiving.length_mm), abs=1e-9)


def test_ducts_are_bright_and_the_liver_is_dark(series, headers):
    geometries = [Geometry.from_header(h) for h in headers]
    volume = stack([load_pixels(p, h) for p, h in zip(series.paths, headers, strict=True)])
    for duct in list(series.ducts.values()) + [series.structures["CHD"], series.structures["CBD"]]:
        middle = np.add(duct.start, duct.end) / 2
        index, row, col = nearest_pixel(geometries, middle)
        assert volume[index, row, col] > 1500, duct.id
    liver = np.array(series.structures["CHD"].start) + [-70.0, 0.0, 20.0]
    index, row, col = nearest_pixel(geometries, liver)
    assert volume[index, row, col] < 400


@pytest.mark.parametrize("case", VALID_CASES, ids=lambda p: p.stem)
def test_measuring_between_clicked_pixels_gives_the_documented_length(case, tmp_path):
    series = generate_series(json.loads(case.read_text())["anatomy"], tmp_path, noise_sd=0.0)
    geometries = [Geometry.from_header(read_header(p, name=p.name)) for p in series.paths]
    tolerance = min(series.pixel_spacing)
    documented = [d for d in series.ducts.values() if d.length_documented]
    assert documented
    for duct in documented:
        clicks = []
        for end in (duct.start, duct.end):
            index, row, col = nearest_pixel(geometries, end)  # the pixel centre a reader would click
            clicks.append(pixel_to_patient(geometries[index], row, col))
        assert abs(distance_mm(*clicks) - duct.length_mm) <= tolerance, duct.id
        # Sub-pixel clicks on one plane: the in-plane part of the length, exactly.
        plane = geometries[0]
        (row_a, col_a, depth_a), (row_b, col_b, depth_b) = (patient_to_pixel(plane, e) for e in (duct.start, duct.end))
        in_plane = distance_mm(pixel_to_patient(plane, row_a, col_a), pixel_to_patient(plane, row_b, col_b))
        assert in_plane == pytest.approx(np.sqrt(duct.length_mm**2 - (depth_a - depth_b) ** 2), abs=1e-3)


def test_clicking_the_mip_finds_the_duct_in_depth(series, headers):
    geometries = [Geometry.from_header(h) for h in headers]
    builder = IncrementalMip()
    for path, header, geometry in zip(series.paths, headers, geometries, strict=True):
        builder.add(load_pixels(path, header), geometry)
    mip = builder.result()
    chd = series.structures["CHD"]
    middle = np.add(chd.start, chd.end) / 2
    row, col, _ = patient_to_pixel(geometries[0], middle)
    point = mip_point_to_patient(mip, round(row), round(col))
    assert distance_mm(point, middle) <= chd.radius_mm + 2 * max(series.pixel_spacing)


def test_default_series_is_fast(tmp_path):
    started = time.perf_counter()
    generate_series(anatomy(), tmp_path)
    assert time.perf_counter() - started < 2.0


def test_same_inputs_give_the_same_pixels(tmp_path):
    kwargs = dict(slices=6, rows=64, columns=64, study_uid="1.2.3", series_uid="1.2.3.4", seed=7)
    first = generate_series(anatomy(), tmp_path / "a", **kwargs)
    second = generate_series(anatomy(), tmp_path / "b", **kwargs)
    assert first.sop_instance_uids == second.sop_instance_uids
    for a, b in zip(first.paths, second.paths, strict=True):
        assert pydicom.dcmread(a).PixelData == pydicom.dcmread(b).PixelData
    other_seed = generate_series(anatomy(), tmp_path / "c", **{**kwargs, "seed": 8})
    assert other_seed.ducts == first.ducts  # the document's ducts never depend on the seed


@pytest.mark.parametrize(
    "syntax",
    [
        ImplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
        RLELossless,
        JPEG2000Lossless,
    ],
)
def test_other_transfer_syntaxes_hold_the_same_pixels(syntax, tmp_path):
    kwargs = dict(slices=3, rows=48, columns=48, series_uid="1.2.3.4", seed=3)
    plain = generate_series(anatomy(), tmp_path / "plain", **kwargs)
    other = generate_series(anatomy(), tmp_path / "other", transfer_syntax=syntax, **kwargs)
    for a, b in zip(plain.paths, other.paths, strict=True):
        header, pixels = read_instance(b, name=b.name)
        assert header.transfer_syntax_uid == syntax
        np.testing.assert_array_equal(pixels, read_instance(a, name=a.name)[1])


def test_rescale_is_written_and_undone_by_the_reader(tmp_path):
    kwargs = dict(slices=2, rows=48, columns=48, series_uid="1.2.3.4", noise_sd=0.0)
    plain = generate_series(anatomy(), tmp_path / "plain", **kwargs)
    scaled = generate_series(anatomy(), tmp_path / "scaled", rescale_slope=2.0, rescale_intercept=-10.0, **kwargs)
    header, pixels = read_instance(scaled.paths[1], name="x")
    assert (header.rescale_slope, header.rescale_intercept) == (2.0, -10.0)
    np.testing.assert_allclose(pixels, read_instance(plain.paths[1], name="y")[1], atol=1.0)


def test_oblique_and_axial_series(tmp_path):
    oblique = generate_series(anatomy(), tmp_path / "oblique", slices=8, rows=64, columns=64, oblique_degrees=25.0)
    header = read_header(oblique.paths[0], name="x")
    np.testing.assert_allclose(
        header.image_orientation[:3], [np.cos(np.radians(25)), np.sin(np.radians(25)), 0], atol=1e-6
    )
    axial = generate_series(anatomy(), tmp_path / "axial", slices=100, rows=96, columns=96, orientation="axial")
    headers = [read_header(p, name=p.name) for p in axial.paths]
    geometries = [Geometry.from_header(h) for h in headers]
    volume = stack([load_pixels(p, h) for p, h in zip(axial.paths, headers, strict=True)])
    mip = coronal_mip(volume, geometries)
    assert mip.projection == "along rows" and mip.image.shape == (100, 96)
    # Superior at the top: the hilum (high) appears above the ampulla (low).
    hilum_row = _mip_row_of(mip, axial.structures["CHD"].start)
    ampulla_row = _mip_row_of(mip, axial.structures["CBD"].end)
    assert hilum_row < ampulla_row


def _mip_row_of(mip, point) -> int:
    depths = [np.dot(g.position, g.normal) for g in mip.geometries]
    nearest = int(np.argmin([abs(np.dot(point, mip.geometries[0].normal) - d) for d in depths]))
    rows = np.nonzero(mip.slice_index[:, 0] == nearest)[0]
    return int(rows[0])


def test_invalid_anatomy_is_refused(tmp_path):
    document = json.loads((CASES / "invalid_unknown_target.json").read_text())["anatomy"]
    with pytest.raises(ValueError, match="RAHD -> RHX"):
        generate_series(document, tmp_path)


def test_write_zip_round_trips_through_the_safe_reader(series, tmp_path):
    archive = write_zip(series.paths[:5], tmp_path / "study.zip")
    with zipfile.ZipFile(archive) as opened:
        assert opened.namelist() == [f"MRCP/{p.name}" for p in series.paths[:5]]
    members = list(
        iter_zip_members(archive, max_files=10, max_total_bytes=10**8, max_member_bytes=10**7, max_ratio=200)
    )
    assert [m.name for m in members] == [f"MRCP/{p.name}" for p in series.paths[:5]]
    header = read_header(members[0].data, name=members[0].name)
    assert header.sop_instance_uid == series.sop_instance_uids[0]
