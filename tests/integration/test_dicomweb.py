"""DICOMweb against a real client (dicomweb-client): QIDO-RS search, WADO-RS retrieve, STOW-RS store,
scoped to the client's centre and audited."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.files.storage import default_storage
from requests.exceptions import HTTPError

from core.models import AuditEvent
from core.tokens import issue_api_client
from imaging import services
from imaging.models import Instance, Series, Study, Upload
from tests.factories import DonorFactory
from tests.integration.imaging_support import phantom

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stored(settings, tmp_path, eager_tasks, centre):
    """A phantom series imported for a donor of the home centre (the import runs in-process)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    donor = DonorFactory(centre=centre, mrn="MRN-DW-1")
    paths = sorted(
        phantom(tmp_path / "in", donor=donor, slices=6, size=32, study_uid="1.2.826.0.1.3680043.9.7.1").paths
    )
    files = [services.Incoming(name=p.name, size=p.stat().st_size, file=p) for p in paths]
    services.create_upload(actor=None, donor=donor, files=files, channel="command")
    study = Study.objects.get(donor=donor)
    return {"donor": donor, "paths": paths, "study": study, "series": study.series.get()}


@pytest.fixture
def token(centre):
    _, key = issue_api_client(centre=centre, name="PACS")
    return key


def dicomweb(live_server, key) -> DICOMwebClient:
    # One connection per request: a kept-alive connection would keep its server thread (and its database
    # connection) alive after the test.
    headers = {"Authorization": f"Token {key}", "Connection": "close"}
    return DICOMwebClient(url=f"{live_server.url}/dicom-web", headers=headers)


def test_search_for_studies_series_and_instances_with_filters(live_server, stored, token):
    client = dicomweb(live_server, token)
    study_uid = stored["study"].study_instance_uid
    found = client.search_for_studies(search_filters={"PatientID": "MRN-DW-1"})
    assert [pydicom.Dataset.from_json(s).StudyInstanceUID for s in found] == [study_uid]
    assert client.search_for_studies(search_filters={"PatientID": "nobody"}) == []
    date = stored["study"].study_date
    assert len(client.search_for_studies(search_filters={"StudyDate": f"{date}-{date}"})) == 1
    assert len(client.search_for_studies(search_filters={"StudyDate": date})) == 1
    assert client.search_for_studies(search_filters={"StudyDate": "19000101-19000102"}) == []
    assert len(client.search_for_studies(search_filters={"ModalitiesInStudy": "MR"})) == 1
    assert client.search_for_studies(search_filters={"ModalitiesInStudy": "CT"}) == []
    assert client.search_for_studies(offset=1) == []

    series = client.search_for_series(study_uid)
    assert [pydicom.Dataset.from_json(s).SeriesInstanceUID for s in series] == [stored["series"].series_instance_uid]
    instances = client.search_for_instances(study_uid, stored["series"].series_instance_uid, limit=4)
    assert len(instances) == 4
    assert all(pydicom.Dataset.from_json(i).SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" for i in instances)
    rest = client.search_for_instances(study_uid, stored["series"].series_instance_uid, limit=4, offset=4)
    assert len(rest) == 2
    listed = AuditEvent.objects.filter(kind=AuditEvent.Kind.LIST, summary="searched studies by DICOMweb")
    assert listed.exists()
    assert stored["donor"].pk in listed.first().changes["donor_ids"]


def test_unknown_parameters_and_bad_dates_are_named(live_server, stored, token):
    headers = {"Authorization": f"Token {token}"}
    bad = requests.get(f"{live_server.url}/dicom-web/studies?Colour=blue", headers=headers, timeout=10)
    assert bad.status_code == 400
    assert "Colour" in bad.json()["error"]["fields"]
    date = requests.get(f"{live_server.url}/dicom-web/studies?StudyDate=2024-13-01", headers=headers, timeout=10)
    assert date.status_code == 400
    assert "StudyDate" in date.json()["error"]["fields"]


def test_retrieved_instances_and_series_are_the_stored_files(live_server, stored, token):
    client = dicomweb(live_server, token)
    study_uid, series_uid = stored["study"].study_instance_uid, stored["series"].series_instance_uid
    sent = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in stored["paths"]}
    instance = Instance.objects.filter(series=stored["series"]).first()
    got = client.retrieve_instance(study_uid, series_uid, instance.sop_instance_uid)
    assert got.PixelData == sent[instance.sop_instance_uid].PixelData
    series = client.retrieve_series(study_uid, series_uid)
    assert len(series) == 6
    assert all(item.PixelData == sent[item.SOPInstanceUID].PixelData for item in series)
    raw = requests.get(
        f"{live_server.url}/dicom-web/studies/{study_uid}/series/{series_uid}/instances/{instance.sop_instance_uid}",
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert raw.headers["Content-Type"].startswith('multipart/related; type="application/dicom"')
    with default_storage.open(instance.file, "rb") as handle:  # the part is the stored file, byte for byte
        assert b"\r\n\r\n" + handle.read() + b"\r\n--" in raw.content
    reads = AuditEvent.objects.filter(kind=AuditEvent.Kind.READ, donor_id=stored["donor"].pk)
    assert reads.filter(summary__contains="DICOMweb").exists()


def test_metadata_frames_and_rendered(live_server, stored, token):
    client = dicomweb(live_server, token)
    study_uid, series_uid = stored["study"].study_instance_uid, stored["series"].series_instance_uid
    instance = Instance.objects.filter(series=stored["series"]).first()
    metadata = client.retrieve_instance_metadata(study_uid, series_uid, instance.sop_instance_uid)
    header = pydicom.Dataset.from_json(metadata)
    assert header.SOPInstanceUID == instance.sop_instance_uid
    assert "PixelData" not in header
    assert len(client.retrieve_series_metadata(study_uid, series_uid)) == 6
    frames = client.retrieve_instance_frames(study_uid, series_uid, instance.sop_instance_uid, frame_numbers=[1])
    sent = next(
        pydicom.dcmread(p) for p in stored["paths"] if pydicom.dcmread(p).SOPInstanceUID == instance.sop_instance_uid
    )
    assert frames == [sent.PixelData]
    with pytest.raises(HTTPError) as missing:
        client.retrieve_instance_frames(study_uid, series_uid, instance.sop_instance_uid, frame_numbers=[2])
    assert missing.value.response.status_code == 404
    single = requests.get(
        f"{live_server.url}/dicom-web/studies/{study_uid}/series/{series_uid}/instances/{instance.sop_instance_uid}/frames/1",
        headers={"Authorization": f"Token {token}", "Accept": "application/octet-stream", "Connection": "close"},
        timeout=10,
    )
    assert single.headers["Content-Type"].startswith("application/octet-stream")
    assert single.content == sent.PixelData
    png = client.retrieve_instance_rendered(
        study_uid, series_uid, instance.sop_instance_uid, media_types=("image/png",)
    )
    assert png.startswith(b"\x89PNG")
    jpeg = client.retrieve_instance_rendered(
        study_uid, series_uid, instance.sop_instance_uid, media_types=("image/jpeg",)
    )
    assert jpeg.startswith(b"\xff\xd8")
    refused = requests.get(
        f"{live_server.url}/dicom-web/studies/{study_uid}/series/{series_uid}/instances/{instance.sop_instance_uid}/rendered",
        headers={"Authorization": f"Token {token}", "Accept": "image/gif"},
        timeout=10,
    )
    assert refused.status_code == 406


def test_store_instances_lands_under_the_donor_with_that_mrn(
    live_server, settings, tmp_path, eager_tasks, centre, token
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    donor = DonorFactory(centre=centre, mrn="MRN-STOW")
    paths = sorted(phantom(tmp_path / "stow", donor=donor, slices=5, size=32).paths)
    datasets = [pydicom.dcmread(p) for p in paths]
    answer = dicomweb(live_server, token).store_instances(datasets)
    referenced = answer.ReferencedSOPSequence
    assert {item.ReferencedSOPInstanceUID for item in referenced} == {d.SOPInstanceUID for d in datasets}
    assert "FailedSOPSequence" not in answer
    upload = Upload.objects.get(donor=donor)
    assert upload.channel == "dicomweb" and upload.accepted == 5
    series = Series.objects.get(study__donor=donor)
    assert series.instance_count == 5
    stored = {i.sop_instance_uid: i for i in Instance.objects.filter(series=series)}
    for dataset in datasets:
        got = pydicom.dcmread(Path(settings.MEDIA_ROOT) / stored[dataset.SOPInstanceUID].file)
        assert got.PixelData == dataset.PixelData


def test_store_answers_409_when_every_part_fails_and_415_for_another_type(
    live_server, settings, tmp_path, eager_tasks, token
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=XyZ',
    }
    body = b"--XyZ\r\nContent-Type: application/dicom\r\n\r\nnot dicom at all\r\n--XyZ--\r\n"
    failed = requests.post(f"{live_server.url}/dicom-web/studies", data=body, headers=headers, timeout=10)
    assert failed.status_code == 409
    answer = pydicom.Dataset.from_json(failed.json())
    assert answer.FailedSOPSequence[0].FailureReason == 0xC000
    other = requests.post(
        f"{live_server.url}/dicom-web/studies",
        data=b"{}",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert other.status_code == 415


def test_another_centres_study_is_invisible(live_server, stored, other_centre):
    _, foreign_key = issue_api_client(centre=other_centre, name="Other PACS")
    client = dicomweb(live_server, foreign_key)
    assert client.search_for_studies() == []
    study_uid, series_uid = stored["study"].study_instance_uid, stored["series"].series_instance_uid
    with pytest.raises(HTTPError) as hidden:
        client.retrieve_series(study_uid, series_uid)
    assert hidden.value.response.status_code == 404
    with pytest.raises(HTTPError) as hidden_search:
        client.search_for_series(study_uid)
    assert hidden_search.value.response.status_code == 404


def test_a_detached_study_is_not_served(live_server, stored, token):
    Study.objects.filter(pk=stored["study"].pk).update(identity_state=Study.Identity.UNRESOLVED)
    assert dicomweb(live_server, token).search_for_studies() == []


def test_unauthenticated_requests_are_refused(live_server, stored):
    answer = requests.get(f"{live_server.url}/dicom-web/studies", timeout=10)
    assert answer.status_code == 401
    stow = requests.post(
        f"{live_server.url}/dicom-web/studies",
        data=b"--a\r\n\r\nx\r\n--a--\r\n",
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=a'},
        timeout=10,
    )
    assert stow.status_code == 401


def test_a_role_that_may_not_upload_cannot_store(live_server, stored, make_user):
    from django.test import Client

    auditor = make_user("auditor", username="dw-auditor")
    browser = Client()
    browser.force_login(auditor)
    answer = browser.post(
        "/dicom-web/studies",
        data=b"--a\r\n\r\nx\r\n--a--\r\n",
        content_type='multipart/related; type="application/dicom"; boundary=a',
    )
    assert answer.status_code == 403


def test_store_answers_202_naming_the_failed_part_when_some_are_stored(
    live_server, settings, tmp_path, eager_tasks, centre, token
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    donor = DonorFactory(centre=centre, mrn="MRN-MIXED")
    good = sorted(phantom(tmp_path / "mixed", donor=donor, slices=2, size=32).paths)
    other_study = sorted(phantom(tmp_path / "other", donor=donor, slices=1, size=32).paths)
    study_uid = pydicom.dcmread(good[0]).StudyInstanceUID
    boundary = "b0undary"
    body = (
        b"".join(
            b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + Path(p).read_bytes() + b"\r\n"
            for p in [*good, *other_study]
        )
        + f"--{boundary}--\r\n".encode()
    )
    answer = requests.post(
        f"{live_server.url}/dicom-web/studies/{study_uid}",
        data=body,
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        },
        timeout=30,
    )
    assert answer.status_code == 202, answer.content
    result = pydicom.Dataset.from_json(answer.json())
    assert len(result.ReferencedSOPSequence) == 2
    failed = result.FailedSOPSequence
    assert [item.ReferencedSOPInstanceUID for item in failed] == [pydicom.dcmread(other_study[0]).SOPInstanceUID]
    assert failed[0].FailureReason == 0xA900
    assert Instance.objects.filter(series__study__donor=donor).count() == 2


def test_an_unknown_patient_id_is_filed_among_unmatched_studies(
    live_server, settings, tmp_path, eager_tasks, centre, token
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    paths = sorted(phantom(tmp_path / "nobody", slices=2, size=32, patient_id="NO-SUCH-MRN").paths)
    dicomweb(live_server, token).store_instances([pydicom.dcmread(p) for p in paths])
    study = Study.objects.get(patient_id="NO-SUCH-MRN")
    assert study.donor is None and study.centre == centre
    assert dicomweb(live_server, token).search_for_studies(search_filters={"PatientID": "NO-SUCH-MRN"}) == []


def test_a_session_store_needs_the_csrf_token_and_a_token_store_does_not(live_server, stored, make_user):
    from django.test import Client

    coordinator = make_user("coordinator", username="dw-coordinator")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(coordinator)
    body = b"--a\r\nContent-Type: application/dicom\r\n\r\nnot dicom\r\n--a--\r\n"
    content_type = 'multipart/related; type="application/dicom"; boundary=a'
    refused = browser.post("/dicom-web/studies", data=body, content_type=content_type)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    assert browser.get(f"/dicom-web/studies?PatientID={stored['donor'].mrn}").status_code == 200


def test_a_store_over_the_size_limit_is_refused_while_reading(live_server, settings, tmp_path, token):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DICOM_MAX_UPLOAD_BYTES = 10_000
    body = b"--a\r\nContent-Type: application/dicom\r\n\r\n" + b"x" * 50_000 + b"\r\n--a--\r\n"
    answer = requests.post(
        f"{live_server.url}/dicom-web/studies",
        data=body,
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=a',
            "Connection": "close",
        },
        timeout=10,
    )
    assert answer.status_code == 413
    assert not Upload.objects.exists()
    assert not list((tmp_path / "media" / "imaging" / "received").rglob("*.dcm"))


def test_wado_uri_serves_the_stored_file_or_a_picture_within_the_centre(live_server, stored, token, other_centre):
    instance = Instance.objects.filter(series=stored["series"]).first()
    uids = {
        "requestType": "WADO",
        "studyUID": stored["study"].study_instance_uid,
        "seriesUID": stored["series"].series_instance_uid,
        "objectUID": instance.sop_instance_uid,
    }
    headers = {"Authorization": f"Token {token}", "Connection": "close"}
    url = f"{live_server.url}/dicom-web/wado"

    dicom = requests.get(url, params=uids | {"contentType": "application/dicom"}, headers=headers, timeout=10)
    assert dicom.status_code == 200 and dicom.headers["Content-Type"] == "application/dicom"
    with default_storage.open(instance.file, "rb") as handle:
        assert dicom.content == handle.read()
    jpeg = requests.get(url, params=uids, headers=headers, timeout=10)  # image/jpeg unless asked otherwise
    assert jpeg.headers["Content-Type"] == "image/jpeg" and jpeg.content.startswith(b"\xff\xd8")
    reads = AuditEvent.objects.filter(kind=AuditEvent.Kind.READ, donor_id=stored["donor"].pk)
    assert reads.filter(summary__contains="(WADO-URI)").exists()  # reads of a series are aggregated

    gif = requests.get(url, params=uids | {"contentType": "image/gif"}, headers=headers, timeout=10)
    assert gif.status_code == 406 and "contentType" in gif.json()["error"]["message"]
    missing = requests.get(url, params={"requestType": "WADO", "studyUID": "1.2"}, headers=headers, timeout=10)
    assert missing.status_code == 400 and set(missing.json()["error"]["fields"]) == {"seriesUID", "objectUID"}
    wrong_type = requests.get(url, params=uids | {"requestType": "QIDO"}, headers=headers, timeout=10)
    assert wrong_type.status_code == 400 and "requestType" in wrong_type.json()["error"]["fields"]
    assert requests.get(url, params=uids, timeout=10).status_code == 401

    _, foreign_key = issue_api_client(centre=other_centre, name="Other viewer")
    hidden = requests.get(url, params=uids, headers={"Authorization": f"Token {foreign_key}"}, timeout=10)
    assert hidden.status_code == 404
