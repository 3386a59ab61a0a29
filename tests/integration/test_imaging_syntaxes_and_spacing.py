"""Files other DICOM viewers read are read here too, and a series without a usable Pixel Spacing
is kept, shown (slices and MIP) without a scale bar, and refused for measuring with a reason."""

from __future__ import annotations

import io

import pydicom
import pytest
from django.test import Client
from PIL import Image

from imaging.models import Measurement, Series
from tests.factories import DonorFactory
from tests.integration.imaging_support import as_uploads, lines, named, phantom, report, shipped, upload

pytestmark = pytest.mark.django_db


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


def png_size(response) -> tuple[int, int]:
    assert response.status_code == 200 and response["Content-Type"] == "image/png", response.content[:200]
    return Image.open(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)).size


@pytest.mark.parametrize(
    ("name", "mrn", "given", "family", "size"),
    [
        ("JPEG-lossy.dcm", "8NM1", "NM1", "CompressedSamples", (256, 1024)),
        ("SC_ybr_full_422_uncompressed.dcm", "ID1", "G", "Lestrade", (100, 100)),
    ],
    ids=["jpeg-extended-12-bit", "native-ybr-full-422"],
)
def test_files_other_viewers_read_are_accepted_and_viewable(
    name, mrn, given, family, size, client, pages, centre, eager_tasks, django_capture_on_commit_callbacks
):
    donor = DonorFactory(centre=centre, mrn=mrn, given_name=given, family_name=family)
    body = upload(client, donor, as_uploads([shipped(name)]), django_capture_on_commit_callbacks)
    line = lines(report(client, body["id"]))[name]
    assert line["outcome"] == "accepted", line
    series = Series.objects.get(study__donor=donor)
    assert series.instance_count == 1 and series.render_state == "done" and series.thumbnail_path
    assert not series.study.identity_warning
    assert png_size(pages.get(f"/imaging/series/{series.pk}/slices/0.png")) == size
    viewer = pages.get(f"/imaging/series/{series.pk}/")
    assert viewer.status_code == 200


def _without_spacing(how: str):
    def change(dataset):
        if how == "missing":
            del dataset.PixelSpacing
        else:
            dataset.PixelSpacing = [0, 0]

    return change


@pytest.mark.parametrize(
    ("how", "warning"),
    [
        ("missing", "no pixel spacing: distances cannot be measured on this image"),
        ("zero", "pixel spacing 0\\0 is not two positive numbers: ignored, distances cannot be measured on this image"),
    ],
)
def test_a_series_without_usable_pixel_spacing_is_shown_but_not_measured(
    how, warning, client, pages, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    truth = phantom(tmp_path / "series", donor=donor, slices=8, size=64)
    files = []
    for path in truth.paths:
        dataset = pydicom.dcmread(path)
        _without_spacing(how)(dataset)
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        files.append(named(path.name, buffer.getvalue()))
    body = upload(client, donor, files, django_capture_on_commit_callbacks)
    result = report(client, body["id"])
    assert all(line["outcome"] == "accepted" and warning in line["warnings"] for line in result["files"]), result

    series = Series.objects.get(study__donor=donor)
    assert series.used_as_mrcp and series.render_state == "done", series.render_error
    assert series.pixel_spacing is None and series.mip_spacing is None
    assert series.mip_path and series.mip_shape == [64, 64]  # coronal slices: the MIP needs no spacing
    assert png_size(pages.get(f"/imaging/series/{series.pk}/slices/3.png")) == (64, 64)
    assert png_size(pages.get(f"/imaging/series/{series.pk}/mip.png")) == (64, 64)
    assert png_size(pages.get(f"/imaging/series/{series.pk}/mip.png?wc=100&ww=400")) == (64, 64)

    viewer = pages.get(f"/imaging/series/{series.pk}/")
    assert viewer.status_code == 200
    overlay = viewer.context["config"]["overlay"]
    assert overlay["slices"]["scale"] is None and overlay["mip"]["scale"] is None
    assert viewer.context["config"]["mipUrl"]
    assert (
        'data-testid="not-measurable">Distances cannot be measured on this series: its images carry no usable '
        "Pixel Spacing (0028,0030).</p>" in viewer.content.decode()
    )

    slice_points = [{"slice": 2, "row": 10, "col": 10}, {"slice": 2, "row": 40, "col": 10}]
    mip_points = [{"row": 10, "col": 10}, {"row": 40, "col": 10}]
    for url, payload in (
        (f"/api/v1/series/{series.pk}/distance/", {"kind": "slices", "points": slice_points}),
        (f"/api/v1/series/{series.pk}/distance/", {"kind": "mip", "points": mip_points}),
        (f"/api/v1/donors/{donor.pk}/measurements/", {"series": series.pk, "kind": "slices", "points": slice_points}),
        (f"/api/v1/donors/{donor.pk}/measurements/", {"series": series.pk, "kind": "mip", "points": mip_points}),
    ):
        response = client.post(url, payload, format="json")
        assert response.status_code == 409, (url, payload, response.content)
        error = response.json()["error"]
        assert "Pixel Spacing (0028,0030)" in error["message"], error
        assert "pixel_spacing" in error["fields"], error
    assert not Measurement.objects.exists()


def test_a_series_with_its_geometry_says_nothing_about_measuring(
    client, pages, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    truth = phantom(tmp_path / "series", donor=donor, slices=4, size=32)
    upload(client, donor, as_uploads(truth.paths), django_capture_on_commit_callbacks)
    series = Series.objects.get(study__donor=donor)
    viewer = pages.get(f"/imaging/series/{series.pk}/")
    assert viewer.status_code == 200 and viewer.context["not_measurable"] == ""
    assert 'data-testid="not-measurable"' not in viewer.content.decode()


def test_a_zero_spacing_stored_before_it_was_refused_is_not_measured(
    client, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    truth = phantom(tmp_path / "series", donor=donor, slices=4, size=32)
    upload(client, donor, as_uploads(truth.paths), django_capture_on_commit_callbacks)
    series = Series.objects.get(study__donor=donor)
    points = [{"slice": 1, "row": 5, "col": 5}, {"slice": 1, "row": 20, "col": 5}]
    url = f"/api/v1/series/{series.pk}/distance/"
    assert client.post(url, {"kind": "slices", "points": points}, format="json").status_code == 200
    series.instances.update(pixel_spacing=[0, 0])
    response = client.post(url, {"kind": "slices", "points": points}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["fields"] == {"pixel_spacing": ["missing or not two positive numbers"]}
