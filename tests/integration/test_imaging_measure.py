"""Measuring on a phantom whose duct lengths are known: the API's distance in patient space
agrees with the document's length within one pixel spacing."""

from __future__ import annotations

import math

import pytest

from core.models import AuditEvent
from imaging.dicom import Geometry, patient_to_pixel
from imaging.models import Measurement, Series
from imaging.slices import geometry_of
from tests.integration.imaging_support import as_uploads, phantom, upload

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


def ingest(client, donor, tmp_path, capture, **kwargs):
    truth = phantom(tmp_path / "series", donor=donor, **kwargs)
    upload(client, donor, as_uploads(truth.paths), capture)
    return truth, Series.objects.get(study__donor=donor)


def click(series: Series, point) -> dict:
    """Where a radiologist clicks for a patient point: the nearest slice, the exact row/column."""
    placed = []
    for instance in series.instances.order_by("slice_index"):
        row, col, off_plane = patient_to_pixel(geometry_of(instance), point)
        placed.append((abs(off_plane), instance.slice_index, row, col))
    _, index, row, col = min(placed)
    return {"slice": index, "row": round(row, 2), "col": round(col, 2)}


def test_a_duct_measured_on_the_slices_matches_its_documented_length(
    client, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    truth, series = ingest(client, donor, tmp_path, django_capture_on_commit_callbacks, slices=40, size=192)
    spacing = max(truth.pixel_spacing)
    for duct_id in ("RHD", "RPHD", "LHD"):
        duct = truth.ducts[duct_id]
        points = [click(series, duct.start), click(series, duct.end)]
        response = client.post(
            f"/api/v1/donors/{donor.pk}/measurements/",
            {"series": series.pk, "kind": "slices", "points": points, "label": duct_id},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert abs(body["length_mm"] - duct.length_mm) <= spacing, (duct_id, body["length_mm"], duct.length_mm)
        assert body["label"] == duct_id and body["series"] == series.pk
    listed = client.get(f"/api/v1/donors/{donor.pk}/measurements/").json()
    assert [item["label"] for item in listed] == ["LHD", "RPHD", "RHD"]  # newest first, a plain list
    assert set(listed[0]) >= {"id", "label", "length_mm", "series", "created_at"}
    assert Measurement.objects.get(label="RHD").history.count() == 1
    assert AuditEvent.objects.filter(record_type="imaging.Measurement", kind="create").count() == 3


def test_a_duct_crossing_axial_slices_is_measured_in_patient_space(
    client, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    # Axial slices 2 mm apart with rectangular pixels: the CHD runs through many slices.
    truth, series = ingest(
        client,
        donor,
        tmp_path,
        django_capture_on_commit_callbacks,
        slices=60,
        size=160,
        orientation="axial",
        slice_thickness=2.0,
        pixel_spacing=(1.6, 1.4),
    )
    chd = truth.structures["CHD"]
    points = [click(series, chd.start), click(series, chd.end)]
    assert abs(points[0]["slice"] - points[1]["slice"]) > 10
    response = client.post(f"/api/v1/series/{series.pk}/distance/", {"kind": "slices", "points": points}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    # The nearest slice is at most half a slice gap from each end.
    assert abs(body["length_mm"] - chd.length_mm) <= max(1.6, 2.0)
    for expected, got in zip((chd.start, chd.end), body["patient_points"], strict=True):
        assert math.dist(expected, got) <= 1.0 + 0.01  # half a gap, plus the rounding of the click
    assert not Measurement.objects.exists()  # the preview saves nothing


def test_a_duct_measured_on_the_mip(client, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks):
    truth, series = ingest(client, donor, tmp_path, django_capture_on_commit_callbacks, slices=40, size=192)
    assert series.mip_shape == [192, 192]
    first = series.instances.get(slice_index=0)
    geometry: Geometry = geometry_of(first)
    duct = truth.ducts["RPHD"]
    points = []
    for end in (duct.start, duct.end):
        row, col, _ = patient_to_pixel(geometry, end)  # coronal: the MIP has the slices' rows and columns
        points.append({"row": round(row), "col": round(col)})
    response = client.post(
        f"/api/v1/donors/{donor.pk}/measurements/",
        {"series": series.pk, "kind": "mip", "points": points, "label": "RPHD"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    # Each MIP point takes the depth of the brightest voxel on its ray: inside the duct, near its axis.
    assert abs(body["length_mm"] - duct.length_mm) <= 2 * max(truth.pixel_spacing)
    assert all("slice" in p for p in body["points"])


def test_bad_points_are_refused_clearly(client, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks):
    _, series = ingest(client, donor, tmp_path, django_capture_on_commit_callbacks, slices=6)
    url = f"/api/v1/donors/{donor.pk}/measurements/"
    cases = [
        (
            {"kind": "slices", "points": [{"slice": 99, "row": 1, "col": 1}, {"slice": 0, "row": 1, "col": 2}]},
            "no slice 99",
        ),
        (
            {"kind": "slices", "points": [{"slice": 0, "row": -9, "col": 1}, {"slice": 0, "row": 1, "col": 2}]},
            "outside the image",
        ),
        (
            {"kind": "slices", "points": [{"slice": 0, "row": 1, "col": 1}, {"slice": 0, "row": 1, "col": 1}]},
            "the same",
        ),
        ({"kind": "mip", "points": [{"row": 500, "col": 1}, {"row": 1, "col": 1}]}, "outside the MIP"),
        (
            {"kind": "slices", "points": [{"slice": 0, "row": "x", "col": 1}, {"slice": 0, "row": 1, "col": 1}]},
            "not a number",
        ),
    ]
    for payload, reason in cases:
        response = client.post(url, payload | {"series": series.pk}, format="json")
        assert response.status_code == 400, (payload, response.content)
        assert reason in response.json()["error"]["message"], response.json()
    assert not Measurement.objects.exists()


def test_a_series_of_another_donor_cannot_carry_this_donors_measurement(
    client, donor, centre, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    from tests.factories import DonorFactory

    _, series = ingest(client, donor, tmp_path, django_capture_on_commit_callbacks, slices=4)
    other = DonorFactory(centre=centre)
    point = {"slice": 0, "row": 10, "col": 10}
    response = client.post(
        f"/api/v1/donors/{other.pk}/measurements/",
        {"series": series.pk, "kind": "slices", "points": [point, point | {"col": 20}]},
        format="json",
    )
    assert response.status_code == 400 and "not a series of this donor" in response.json()["error"]["message"]


def test_the_anatomy_editor_finds_the_measurements(donor, radiologist):
    from django.test import Client

    page = Client()
    page.force_login(radiologist)
    html = page.get(f"/anatomy/donors/{donor.pk}/").content.decode()
    assert f'data-url="/api/v1/donors/{donor.pk}/measurements/"' in html
