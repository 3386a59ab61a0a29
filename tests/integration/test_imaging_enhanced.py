"""An Enhanced MR file (one multi-frame file for the whole series) through the upload pipeline: its frames
are the series' slices, scrolled in the viewer, projected into the MIP and measured on, exactly as the
same series sent as single-frame files; the size limit is per frame; DICOMweb serves its frames."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.test import Client
from highdicom.legacy import LegacyConvertedEnhancedMRImage
from pydicom.uid import generate_uid

from core.tokens import issue_api_client
from imaging import rendering, services
from imaging.dicom import patient_to_pixel
from imaging.models import Instance, Series, Study, UploadFile
from imaging.slices import geometry_of, slice_at
from tests.factories import DonorFactory
from tests.integration.imaging_support import as_uploads, lines, phantom, report, upload

pytestmark = pytest.mark.django_db

SLICES, SIZE = 24, 96


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users


@pytest.fixture
def radiologist(make_user):
    return make_user("radiologist")


@pytest.fixture
def client(api_as, radiologist):
    return api_as(radiologist)


@pytest.fixture
def pages(radiologist):
    browser = Client()
    browser.force_login(radiologist)
    return browser


def both_series(client, donor, tmp_path, capture, *, converter: str):
    """The same phantom imported twice: as single-frame files, and as one Enhanced MR file."""
    flat = phantom(tmp_path / "flat", donor=donor, slices=SLICES, size=SIZE, seed=4, series_number=1)
    if converter == "phantom":
        enhanced = phantom(
            tmp_path / "enh", donor=donor, slices=SLICES, size=SIZE, seed=4, series_number=2, enhanced=True
        ).paths[0]
    else:
        image = LegacyConvertedEnhancedMRImage(
            [pydicom.dcmread(path) for path in flat.paths],
            series_instance_uid=generate_uid(),
            series_number=2,
            sop_instance_uid=generate_uid(),
            instance_number=1,
        )
        enhanced = tmp_path / "converted.dcm"
        image.save_as(enhanced, enforce_file_format=True)
    upload(client, donor, as_uploads(flat.paths), capture)
    body = upload(client, donor, as_uploads([enhanced]), capture)
    assert report(client, body["id"])["accepted"] == 1
    single = Series.objects.get(series_instance_uid=flat.series_uid)
    multi = Series.objects.exclude(pk=single.pk).get()
    return flat, single, multi


def click(series: Series, point) -> dict:
    """Where a radiologist clicks for a patient point: the nearest slice, the exact row/column."""
    placed = []
    for index in range(series.slice_count):
        instance, frame = slice_at(series, index)
        row, col, off_plane = patient_to_pixel(geometry_of(instance, frame), point)
        placed.append((abs(off_plane), index, row, col))
    _, index, row, col = min(placed)
    return {"slice": index, "row": round(row, 2), "col": round(col, 2)}


@pytest.mark.parametrize("converter", ["phantom", "highdicom"])
def test_an_enhanced_file_is_scrolled_projected_and_measured_like_its_single_frame_series(
    converter, client, pages, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    truth, single, multi = both_series(client, donor, tmp_path, django_capture_on_commit_callbacks, converter=converter)
    assert (multi.instance_count, multi.slice_count) == (1, SLICES)
    assert (single.instance_count, single.slice_count) == (SLICES, SLICES)
    assert multi.is_mrcp and multi.echo_time == 700.0 and multi.acquisition == "3D"
    assert multi.orientation == single.orientation == "coronal"
    assert multi.slice_spacing == pytest.approx(single.slice_spacing)
    assert multi.render_state == "done" and multi.mip_path and multi.mip_shape == single.mip_shape
    instance = multi.instances.get()
    assert instance.frames == SLICES and len(instance.frame_positions) == SLICES

    # The MIP: the same picture; each pixel names a slice holding that maximum (where two slices hold
    # the same value, the one added first wins, and highdicom orders the frames its own way).
    flat_mip, mip = rendering.load_mip_data(single), rendering.load_mip_data(multi)
    assert np.array_equal(mip["image"], flat_mip["image"])
    volume = np.stack([rendering.instance_pixels(*slice_at(multi, index)) for index in range(SLICES)])
    sources = volume[mip["slice_index"].astype(int), mip["row_index"].astype(int), mip["col_index"].astype(int)]
    assert np.array_equal(sources, mip["image"])
    same = np.mean(mip["slice_index"] == flat_mip["slice_index"])
    assert same > (0.9 if converter == "highdicom" else 0.999)

    # The viewer scrolls the frames: each slice the same PNG as the single-frame series' slice.
    viewer = pages.get(f"/imaging/series/{multi.pk}/")
    assert viewer.status_code == 200 and f'max="{SLICES - 1}"' in viewer.content.decode()
    for index in (0, 7, SLICES - 1):
        got = pages.get(f"/imaging/series/{multi.pk}/slices/{index}.png")
        want = pages.get(f"/imaging/series/{single.pk}/slices/{index}.png")
        assert got.status_code == want.status_code == 200
        assert got.content == want.content, index
    assert pages.get(f"/imaging/series/{multi.pk}/slices/{SLICES}.png").status_code == 404
    assert (
        pages.get(f"/imaging/series/{multi.pk}/mip.png").content
        == pages.get(f"/imaging/series/{single.pk}/mip.png").content
    )
    detail = client.get(f"/api/v1/series/{multi.pk}/").json()
    assert (detail["instances"], detail["slice_count"]) == (1, SLICES)
    assert [s["index"] for s in detail["slices"]] == list(range(SLICES))
    assert {s["id"] for s in detail["slices"]} == {instance.pk}
    assert sorted(s["frame"] for s in detail["slices"]) == list(range(1, SLICES + 1))

    # Measuring: on the slices and on the MIP, within one pixel spacing of the single-frame series.
    spacing = max(truth.pixel_spacing)
    for duct_id in ("RHD", "LHD"):
        duct = truth.ducts[duct_id]
        lengths = {}
        for series in (single, multi):
            points = [click(series, duct.start), click(series, duct.end)]
            response = client.post(
                f"/api/v1/series/{series.pk}/distance/", {"kind": "slices", "points": points}, format="json"
            )
            assert response.status_code == 200, response.content
            lengths[series.pk] = response.json()["length_mm"]
        assert abs(lengths[multi.pk] - lengths[single.pk]) <= spacing
        assert abs(lengths[multi.pk] - duct.length_mm) <= spacing
    first = geometry_of(*slice_at(multi, 0))
    duct = truth.ducts["RPHD"]
    points = []
    for end in (duct.start, duct.end):
        row, col, _ = patient_to_pixel(first, end)
        points.append({"row": round(row), "col": round(col)})
    on_mip = {}
    for series in (single, multi):
        response = client.post(
            f"/api/v1/donors/{donor.pk}/measurements/",
            {"series": series.pk, "kind": "mip", "points": points, "label": "RPHD"},
            format="json",
        )
        assert response.status_code == 201, response.content
        on_mip[series.pk] = response.json()
    assert abs(on_mip[multi.pk]["length_mm"] - on_mip[single.pk]["length_mm"]) <= spacing
    for got, want in zip(on_mip[multi.pk]["patient_points"], on_mip[single.pk]["patient_points"], strict=True):
        assert np.linalg.norm(np.subtract(got, want)) <= spacing


def test_the_size_limit_is_per_frame(
    client, donor, tmp_path, settings, eager_tasks, django_capture_on_commit_callbacks
):
    path = phantom(tmp_path / "enh", donor=donor, slices=SLICES, size=SIZE, enhanced=True).paths[0]
    size = path.stat().st_size
    frame = SIZE * SIZE * 2
    settings.DICOM_MAX_FRAME_BYTES = size // 4  # less than the file, more than a frame: accepted
    body = upload(client, donor, as_uploads([path]), django_capture_on_commit_callbacks)
    assert report(client, body["id"])["accepted"] == 1
    Instance.objects.all().delete()
    settings.DICOM_MAX_FRAME_BYTES = frame // 2
    body = upload(client, donor, as_uploads([path]), django_capture_on_commit_callbacks)
    line = lines(report(client, body["id"]))[path.name]
    per_frame = size // SLICES
    assert line["outcome"] == "rejected"
    assert (
        line["reason"] == f"image too large ({SLICES} frames of {per_frame} bytes a frame; the limit is {frame // 2})"
    )
    # The whole-file ceiling still holds whatever the frames.
    settings.DICOM_MAX_FRAME_BYTES = size
    settings.DICOM_MAX_FILE_BYTES = size - 1
    body = upload(client, donor, as_uploads([path]), django_capture_on_commit_callbacks)
    assert lines(report(client, body["id"]))[path.name]["reason"].startswith("file too large")
    assert UploadFile.objects.filter(outcome="accepted").count() == 1


@pytest.mark.django_db(transaction=True)
def test_dicomweb_serves_the_frames_and_metadata_of_a_multi_frame_instance(
    live_server, settings, tmp_path, eager_tasks, centre
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    donor = DonorFactory(centre=centre, mrn="MRN-ENH-1")
    path = phantom(tmp_path / "in", donor=donor, slices=6, size=32, enhanced=True).paths[0]
    services.create_upload(
        actor=None,
        donor=donor,
        files=[services.Incoming(name=path.name, size=path.stat().st_size, file=path)],
        channel="command",
    )
    study = Study.objects.get(donor=donor)
    series = study.series.get()
    instance = series.instances.get()
    _, key = issue_api_client(centre=centre, name="PACS")
    headers = {"Authorization": f"Token {key}", "Connection": "close"}
    web = DICOMwebClient(url=f"{live_server.url}/dicom-web", headers=headers)
    uids = (study.study_instance_uid, series.series_instance_uid, instance.sop_instance_uid)
    header = pydicom.Dataset.from_json(web.retrieve_instance_metadata(*uids))
    assert int(header.NumberOfFrames) == 6 and len(header.PerFrameFunctionalGroupsSequence) == 6
    sent = pydicom.dcmread(path)
    frame_bytes = 32 * 32 * 2
    frames = web.retrieve_instance_frames(*uids, frame_numbers=[2, 6])
    assert frames == [sent.PixelData[frame_bytes : 2 * frame_bytes], sent.PixelData[5 * frame_bytes :]]
    one = requests.get(
        f"{live_server.url}/dicom-web/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}/frames/3",
        headers=headers | {"Accept": "application/octet-stream"},
        timeout=10,
    )
    assert one.content == sent.PixelData[2 * frame_bytes : 3 * frame_bytes]
    png = web.retrieve_instance_rendered(*uids, media_types=("image/png",))
    assert png.startswith(b"\x89PNG")
    retrieved = web.retrieve_instance(*uids)
    assert retrieved.SOPInstanceUID == instance.sop_instance_uid and retrieved.PixelData == sent.PixelData
