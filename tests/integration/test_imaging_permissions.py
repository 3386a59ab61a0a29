"""Every imaging endpoint and page, by role and by centre: exactly the allowed roles of the
donor's own centre get through; another centre's records are not found, and audited."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.audit import Actor
from core.models import AuditEvent
from core.roles import Role
from imaging import jobs, services
from imaging.models import Instance, Measurement, Series, Study, Upload
from tests.integration.imaging_support import as_uploads, phantom

pytestmark = pytest.mark.django_db

CLINICAL = {"coordinator", "radiologist", "hepatologist", "surgeon"}
UPLOADERS = {"coordinator", "radiologist", "integration_client"}
ALL_ROLES = [role.value for role in Role]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users


def build(donor, make_user, folder):
    """A rendered series with an identity warning, an upload and a measurement."""
    truth = phantom(folder, slices=3, size=32, patient_id="SOMEONE-ELSE")
    radiologist = make_user("radiologist", centre_obj=donor.centre)
    files = [services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths]
    upload = services.create_upload(actor=Actor(user=radiologist), donor=donor, files=files)
    jobs.ingest_upload(upload_id=upload.pk)
    series = Series.objects.get(study__donor=donor)
    Study.objects.filter(pk=series.study_id).update(identity_state=Study.Identity.CONFIRMED)
    point = {"slice": 0, "row": 3, "col": 3}
    services.save_measurement(
        actor=Actor(user=radiologist), series=series, kind="slices", points=[point, point | {"col": 9}], label="RHD"
    )
    Study.objects.filter(pk=series.study_id).update(identity_state=Study.Identity.UNRESOLVED)
    return {
        "donor": donor.pk,
        "series": series.pk,
        "study": series.study_id,
        "upload": upload.pk,
        "instance": Instance.objects.filter(series=series).first().pk,
    }


@pytest.fixture
def records(donor, make_user, tmp_path, monkeypatch):
    monkeypatch.setattr(services, "queue_ingest", lambda upload_id: None)
    return build(donor, make_user, tmp_path / "home")


@pytest.fixture
def foreign_records(foreign_donor, make_user, tmp_path, monkeypatch):
    monkeypatch.setattr(services, "queue_ingest", lambda upload_id: None)
    return build(foreign_donor, make_user, tmp_path / "foreign")


def upload_payload(tmp_path, ids):
    return {"donor": ids["donor"], "files": as_uploads(phantom(tmp_path / "new", slices=1, size=16).paths)}


POINTS = [{"slice": 0, "row": 2, "col": 2}, {"slice": 1, "row": 5, "col": 7}]

# (name, method, url, payload, roles that may, success statuses)
API = [
    ("upload", "post", "/api/v1/uploads/", "UPLOAD", UPLOADERS, {202}),
    ("upload status", "get", "/api/v1/uploads/{upload}/", None, UPLOADERS, {200}),
    ("studies", "get", "/api/v1/donors/{donor}/studies/", None, CLINICAL, {200}),
    ("series", "get", "/api/v1/series/{series}/", None, CLINICAL, {200}),
    ("distance", "post", "/api/v1/series/{series}/distance/", {"kind": "slices", "points": POINTS}, CLINICAL, {200}),
    ("list measurements", "get", "/api/v1/donors/{donor}/measurements/", None, CLINICAL, {200}),
    (
        "save measurement",
        "post",
        "/api/v1/donors/{donor}/measurements/",
        {"series": "{series}", "kind": "slices", "points": POINTS, "label": "LHD"},
        {"radiologist"},
        {201, 409},
    ),
    ("mrcp override", "post", "/api/v1/series/{series}/mrcp/", {"mrcp": False}, {"radiologist"}, {200}),
    ("render again", "post", "/api/v1/series/{series}/render/", None, UPLOADERS, {409}),  # up to date: refused
    (
        "confirm identity",
        "post",
        "/api/v1/studies/{study}/confirm/",
        {"reason": "checked with PACS"},
        {"radiologist"},
        {200},
    ),
    (
        "detach study",
        "post",
        "/api/v1/studies/{study}/detach/",
        {"reason": "not the donor"},
        {"radiologist"},
        {409},
    ),  # a measurement of the donor was made on it: refused
    (
        "attach study",
        "post",
        "/api/v1/studies/{study}/attach/",
        {"donor": "{donor}"},
        {"radiologist"},
        {409},
    ),  # filed under a donor already: refused
    ("unmatched studies", "get", "/api/v1/studies/unmatched/", None, {"radiologist"}, {200}),
]

PAGES = [
    ("upload page", "get", "/imaging/donors/{donor}/upload/", None, UPLOADERS, {200}),
    ("upload report", "get", "/imaging/uploads/{upload}/", None, UPLOADERS, {200}),
    ("viewer", "get", "/imaging/series/{series}/", None, CLINICAL, {200}),
    ("mip", "get", "/imaging/series/{series}/mip.png", None, CLINICAL, {200}),
    ("mip re-windowed", "get", "/imaging/series/{series}/mip.png?wc=200&ww=400", None, CLINICAL, {200}),
    ("thumbnail", "get", "/imaging/series/{series}/thumbnail.png", None, CLINICAL, {200}),
    ("slice", "get", "/imaging/series/{series}/slices/1.png?wc=1500&ww=3000", None, CLINICAL, {200}),
    ("dicom file", "get", "/imaging/instances/{instance}/file.dcm", None, CLINICAL, {200}),
    ("mrcp form", "post", "/imaging/series/{series}/mrcp/", {"mrcp": "no"}, {"radiologist"}, {302}),
    ("render again form", "post", "/imaging/series/{series}/render/", None, UPLOADERS, {409}),
    (
        "confirm form",
        "post",
        "/imaging/studies/{study}/confirm/",
        {"reason": "checked with PACS"},
        {"radiologist"},
        {302},
    ),
    ("detach form", "post", "/imaging/studies/{study}/detach/", {"reason": "not the donor"}, {"radiologist"}, {409}),
    ("unmatched page", "get", "/imaging/studies/unmatched/", None, {"radiologist"}, {200}),
]


def fill(template, ids):
    return template.format(**ids) if isinstance(template, str) else template


def payload_for(payload, ids, tmp_path):
    if payload == "UPLOAD":
        return upload_payload(tmp_path, ids)
    if isinstance(payload, dict):
        return {k: (int(fill(v, ids)) if v in ("{series}", "{donor}") else v) for k, v in payload.items()}
    return payload


def call(client, method, url, payload, *, api):
    if method == "get":
        return client.get(url)
    if api:
        multipart = payload is not None and "files" in payload
        return client.post(url, payload, format="multipart" if multipart else "json")
    return client.post(url, payload or {})


def client_for(user, *, api):
    client = APIClient() if api else Client()
    if api:
        client.force_authenticate(user)
    else:
        client.force_login(user)
    return client


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("name,method,template,payload,allowed,ok", API + PAGES, ids=[e[0] for e in API + PAGES])
def test_role_matrix(
    role,
    name,
    method,
    template,
    payload,
    allowed,
    ok,
    records,
    make_user,
    tmp_path,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    api = template.startswith("/api/")
    client = client_for(make_user(role), api=api)
    with django_capture_on_commit_callbacks(execute=True):
        response = call(client, method, fill(template, records), payload_for(payload, records, tmp_path), api=api)
    if role in allowed:
        assert response.status_code in ok, (role, name, response.status_code, getattr(response, "content", b"")[:300])
        if "png" in template:
            assert response["Content-Type"] == "image/png" and response.content[:4] == b"\x89PNG"
            assert response["Cache-Control"].startswith("private")
    else:
        assert response.status_code == 403, (role, name, response.status_code)


NOT_OF_A_RECORD = {"upload", "unmatched studies", "unmatched page"}  # lists of the actor's own centre


@pytest.mark.parametrize(
    "name,method,template,payload,allowed,ok",
    [e for e in API + PAGES if e[0] not in NOT_OF_A_RECORD],
    ids=[e[0] for e in API + PAGES if e[0] not in NOT_OF_A_RECORD],
)
def test_another_centres_records_are_not_found_and_audited(
    name, method, template, payload, allowed, ok, foreign_records, make_user, tmp_path
):
    api = template.startswith("/api/")
    role = sorted(allowed)[0] if "integration_client" not in allowed else "coordinator"
    user = make_user(role)  # home centre; the records belong to the other centre
    response = call(
        client_for(user, api=api),
        method,
        fill(template, foreign_records),
        payload_for(payload, foreign_records, tmp_path),
        api=api,
    )
    assert response.status_code == 404, (name, response.status_code)
    assert AuditEvent.objects.filter(user=user, kind="denied").exists()


def test_upload_to_another_centres_donor_is_not_found(foreign_donor, make_user, tmp_path):
    user = make_user("coordinator")
    client = client_for(user, api=True)
    response = client.post(
        "/api/v1/uploads/", upload_payload(tmp_path, {"donor": foreign_donor.pk}), format="multipart"
    )
    assert response.status_code == 404
    assert AuditEvent.objects.filter(user=user, kind="denied", record_id=str(foreign_donor.pk)).exists()
    assert not Upload.objects.exists()


def test_anonymous_requests_get_nothing(records):
    page = Client()
    for url in (
        "/imaging/series/{series}/",
        "/imaging/series/{series}/mip.png",
        "/imaging/series/{series}/slices/0.png",
        "/imaging/instances/{instance}/file.dcm",
    ):
        response = page.get(fill(url, records))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert APIClient().get(fill("/api/v1/series/{series}/", records)).status_code in (401, 403)


def test_stored_files_are_never_served_from_media_url(records, make_user):
    page = client_for(make_user("radiologist"), api=False)
    instance = Instance.objects.get(pk=records["instance"])
    assert page.get(f"/media/{instance.file}").status_code == 404


def test_image_reads_are_audited_once_per_series_per_minute(records, make_user):
    user = make_user("surgeon")
    page = client_for(user, api=False)
    series_url = fill("/imaging/series/{series}/", records)
    for _ in range(2):
        assert page.get(series_url).status_code == 200
    for index in range(3):
        for center in (100, 900, 1500):  # scrolling and windowing
            assert page.get(f"{series_url}slices/{index}.png?wc={center}&ww=800").status_code == 200
    assert page.get(f"{series_url}mip.png").status_code == 200
    assert page.get(fill("/imaging/instances/{instance}/file.dcm", records)).status_code == 200
    assert page.get(fill("/imaging/instances/{instance}/file.dcm", records)).status_code == 200
    events = AuditEvent.objects.filter(user=user)
    assert events.filter(kind="read", record_type="donors.Donor").count() == 2  # two viewer page loads
    assert events.filter(kind="read", record_type="imaging.Series").count() == 1  # 10 picture requests
    assert events.filter(kind="download").count() == 2
    assert set(events.values_list("donor_id", flat=True)) == {records["donor"]}


def test_pictures_are_revalidated_by_etag(records, make_user):
    page = client_for(make_user("radiologist"), api=False)
    url = fill("/imaging/series/{series}/slices/0.png?wc=1500&ww=3000", records)
    first = page.get(url)
    again = page.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again["ETag"] == first["ETag"]
    assert page.get(fill("/imaging/series/{series}/slices/0.png?wc=1&ww=0", records)).status_code == 400
    assert page.get(fill("/imaging/series/{series}/slices/99.png", records)).status_code == 404


def test_measurements_and_overrides_keep_history(records, make_user):
    assert Measurement.objects.get().history.count() == 1
    radiologist = client_for(make_user("radiologist"), api=True)
    series_url = fill("/api/v1/series/{series}/mrcp/", records)
    assert radiologist.post(series_url, {"mrcp": False}, format="json").json()["mrcp"] is False
    assert radiologist.post(series_url, {"mrcp": None}, format="json").json()["mrcp"] is True
    series = Series.objects.get(pk=records["series"])
    assert series.history.filter(mrcp_override=False).exists()
    assert AuditEvent.objects.filter(record_type="imaging.Series", kind="update").count() == 2
