"""Orthanc (Debian's `orthanc` with the `orthanc-dicomweb` plugin) as a real peer of the app: it stores a
study into the app by C-STORE and by its DICOMweb client (STOW-RS), and retrieves a study from the app
through QIDO-RS and WADO-RS, pixels byte for byte.

The app runs under gunicorn as in production (Orthanc's STOW body is chunked, which Django's test server
cannot read), on the test database, with its tasks run in-process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
import requests

from core.models import AuditEvent
from core.tokens import issue_api_client
from imaging import services
from imaging.dicom_node import StorageNode
from imaging.models import Instance, Series, Study, Upload
from tests.conftest import _database_url_for_worker
from tests.factories import DonorFactory
from tests.integration.imaging_support import phantom
from tests.integration.orthanc_support import Orthanc, free_port, needs_orthanc

ORTHANC_AE = "ORTHANCPEER"
APP_AE = "LDLTWORKUP"

pytestmark = [pytest.mark.django_db(transaction=True), needs_orthanc]


@pytest.fixture
def token(centre):
    _, key = issue_api_client(centre=centre, name="Orthanc")
    return key


@pytest.fixture
def node(settings, tmp_path, eager_tasks):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    node = StorageNode(ae_title=APP_AE, port=0, bind="127.0.0.1")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def app_url(settings, node, tmp_path):
    """The app under gunicorn, on the test database and the node's media folder, tasks run in-process."""
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": _database_url_for_worker(),
        "DATABASE_CONN_MAX_AGE": "0",
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_DEBUG": "true",
        "CELERY_BROKER_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        + ["--timeout", "120", "--control-socket", str(tmp_path / "gunicorn.ctl")],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                requests.get(f"{url}/health/", timeout=10)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def orthanc(tmp_path, app_url, token, node, centre):
    services.register_dicom_peer(actor=None, centre=centre, ae_title=ORTHANC_AE, host="127.0.0.1")
    folder = tmp_path / "orthanc"
    folder.mkdir()
    peer = Orthanc(
        folder,
        ae_title=ORTHANC_AE,
        settings={
            "DicomModalities": {"app": [APP_AE, "127.0.0.1", node.port]},
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "Servers": {
                    "app": {"Url": f"{app_url}/dicom-web/", "HttpHeaders": {"Authorization": f"Token {token}"}}
                },
            },
        },
    )
    yield peer
    peer.stop()


def _pixels_by_uid(datasets) -> dict[str, bytes]:
    return {d.SOPInstanceUID: d.PixelData for d in datasets}


def _wait_for_upload(donor, channel: str, timeout: float = 60.0) -> Upload:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        upload = Upload.objects.filter(donor=donor, channel=channel).first()
        rendering = Series.objects.filter(study__donor=donor).exclude(render_state__in=["done", "failed"])
        if upload is not None and upload.finished and not rendering.exists():
            return upload
        time.sleep(0.1)
    raise AssertionError(f"no finished {channel} upload for {donor.mrn} within {timeout} s")


def test_orthanc_stores_a_study_into_the_app_by_c_store(orthanc, centre, tmp_path, settings):
    donor = DonorFactory(centre=centre, mrn="MRN-ORTHANC-SCU")
    paths = sorted(phantom(tmp_path / "scu", donor=donor, slices=6, size=32).paths)
    study = orthanc.load(paths)

    answer = orthanc.post("/modalities/app/store", {"Resources": [study], "Synchronous": True}).json()
    assert answer["FailedInstancesCount"] == 0, answer
    assert answer["InstancesCount"] == 6

    upload = _wait_for_upload(donor, "dicom")
    assert upload.state == Upload.State.DONE and upload.accepted == 6 and upload.rejected == 0
    filed = Study.objects.get(donor=donor)
    assert filed.identity_state == Study.Identity.MATCHED
    assert AuditEvent.objects.filter(donor_id=donor.pk, channel="dicom", summary__contains=ORTHANC_AE).exists()
    sent = _pixels_by_uid(pydicom.dcmread(p) for p in paths)
    stored = {
        i.sop_instance_uid: pydicom.dcmread(Path(settings.MEDIA_ROOT) / i.file).PixelData
        for i in Instance.objects.filter(series__study=filed)
    }
    assert stored == sent


def test_orthanc_stores_a_study_into_the_app_by_stow(orthanc, centre, tmp_path, settings):
    donor = DonorFactory(centre=centre, mrn="MRN-ORTHANC-STOW")
    paths = sorted(phantom(tmp_path / "stow", donor=donor, slices=5, size=32).paths)
    study = orthanc.load(paths)

    orthanc.post("/dicom-web/servers/app/stow", {"Resources": [study], "Synchronous": True})

    upload = _wait_for_upload(donor, "dicomweb")
    assert upload.state == Upload.State.DONE and upload.accepted == 5
    filed = Study.objects.get(donor=donor)
    sent = _pixels_by_uid(pydicom.dcmread(p) for p in paths)
    stored = {
        i.sop_instance_uid: pydicom.dcmread(Path(settings.MEDIA_ROOT) / i.file).PixelData
        for i in Instance.objects.filter(series__study=filed)
    }
    assert stored == sent


def test_orthanc_finds_and_retrieves_a_study_from_the_app_pixels_unchanged(orthanc, centre, tmp_path):
    donor = DonorFactory(centre=centre, mrn="MRN-ORTHANC-WADO")
    paths = sorted(phantom(tmp_path / "wado", donor=donor, slices=6, size=32).paths)
    files = [services.Incoming(name=p.name, size=p.stat().st_size, file=p) for p in paths]
    services.create_upload(actor=None, donor=donor, files=files, channel="command")
    study_uid = Study.objects.get(donor=donor).study_instance_uid

    # QIDO-RS through Orthanc's DICOMweb client
    query = {"Uri": "/studies", "Arguments": {"PatientID": donor.mrn}}
    found = orthanc.post("/dicom-web/servers/app/get", query).json()
    assert [pydicom.Dataset.from_json(s).StudyInstanceUID for s in found] == [study_uid]
    series = orthanc.post("/dicom-web/servers/app/get", {"Uri": f"/studies/{study_uid}/series"}).json()
    assert len(series) == 1

    # WADO-RS: Orthanc fetches the study and stores it
    orthanc.post("/dicom-web/servers/app/retrieve", {"Resources": [{"Study": study_uid}]})
    (orthanc_study,) = orthanc.post("/tools/find", {"Level": "Study", "Query": {"StudyInstanceUID": study_uid}}).json()
    instances = orthanc.get(f"/studies/{orthanc_study}/instances").json()
    assert len(instances) == 6
    came_back = [pydicom.dcmread(io.BytesIO(orthanc.get(f"/instances/{i['ID']}/file").content)) for i in instances]
    assert _pixels_by_uid(came_back) == _pixels_by_uid(pydicom.dcmread(p) for p in paths)
    reads = AuditEvent.objects.filter(kind=AuditEvent.Kind.READ, donor_id=donor.pk, summary__contains="DICOMweb")
    assert reads.exists()
