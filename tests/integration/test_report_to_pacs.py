"""An issued report sent to the centre's PACS: Orthanc (Debian's) as the PACS stores the anatomy's SR and the
report's Encapsulated PDF by C-STORE, in the donor's MRCP study beside its images. A PACS that cannot be
reached is tried again and the failure is recorded; the page and the API show the outcome."""

from __future__ import annotations

import io

import pydicom
import pytest
from celery import current_app
from django.test import Client
from rest_framework.test import APIClient

from classification import services as classification_services
from core.models import AuditEvent
from imaging import services as imaging_services
from imaging.models import Series, Study
from reports import pdf as report_pdf
from reports import services as report_services
from reports.dicom_pdf import ENCAPSULATED_PDF_STORAGE, pdf_of
from reports.models import PacsDestination, PacsSend
from tests.factories import DonorFactory
from tests.integration.imaging_support import phantom
from tests.integration.orthanc_support import Orthanc, free_port, needs_orthanc
from tests.integration.test_reports import actor, small_pdf, typical

pytestmark = [pytest.mark.django_db, needs_orthanc]

PACS_AE = "HOSPITALPACS"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def pacs(tmp_path):
    folder = tmp_path / "pacs"
    folder.mkdir()
    orthanc = Orthanc(folder, ae_title=PACS_AE)
    yield orthanc
    orthanc.stop()


def final_anatomy_on_mrcp(centre, staff, capture, folder, *, code="D-PACS", mrn="MRN-PACS-1") -> dict:
    """A donor whose MRCP phantom series is stored and whose final anatomy was read on it (tasks run
    in-process)."""
    donor = DonorFactory(centre=centre, code=code, mrn=mrn)
    truth = phantom(folder, donor=donor, slices=6, size=32)
    paths = sorted(truth.paths)
    files = [imaging_services.Incoming(name=p.name, size=p.stat().st_size, file=p) for p in paths]
    with capture(execute=True):
        imaging_services.create_upload(actor=None, donor=donor, files=files, channel="command")
    series = Series.objects.get(study__donor=donor)
    radiologist = actor(staff["radiologist"])
    with capture(execute=True):
        annotation = classification_services.save_annotation(
            actor=radiologist, donor=donor, document=typical(), series_id=series.pk
        )
    annotation.refresh_from_db()
    annotation = classification_services.finalise_annotation(
        actor=radiologist, annotation=annotation, expected_version=annotation.version
    )
    return {"donor": donor, "annotation": annotation, "series": series, "paths": paths, "study_uid": truth.study_uid}


def issue_with_mrcp(centre, staff, capture, folder, *, code="D-PACS", mrn="MRN-PACS-1") -> dict:
    """A donor with a final anatomy read on a stored MRCP series (`final_anatomy_on_mrcp`) whose report is
    issued with its PDF ready."""
    read = final_anatomy_on_mrcp(centre, staff, capture, folder, code=code, mrn=mrn)
    with capture(execute=True):
        version = report_services.issue_report(actor=actor(staff["surgeon"]), donor=read["donor"])
    version.refresh_from_db()
    assert version.pdf_state == "ready"
    return read | {"version": version}


@pytest.fixture
def issued(centre, staff, media, eager_tasks, django_capture_on_commit_callbacks, monkeypatch, tmp_path):
    monkeypatch.setattr(report_pdf, "render_report_pdf", small_pdf)
    return issue_with_mrcp(centre, staff, django_capture_on_commit_callbacks, tmp_path / "mrcp")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_sr_and_the_pdf_land_in_the_donors_study_in_pacs(
    issued, pacs, staff, centre, django_capture_on_commit_callbacks
):
    pacs.load(issued["paths"])  # the PACS holds the MRCP already, as a hospital's does
    report_services.set_pacs_destination(
        actor=actor(staff["surgeon"]), centre=centre, ae_title=PACS_AE, host="127.0.0.1", port=pacs.dicom_port
    )
    version = issued["version"]
    with django_capture_on_commit_callbacks(execute=True):
        answer = _api(staff["surgeon"]).post(f"/api/v1/reports/{version.pk}/pacs/")
    assert answer.status_code == 202, answer.content
    send = PacsSend.objects.get(pk=answer.json()["id"])
    assert send.state == PacsSend.State.SENT, send.error
    assert send.attempts == 1 and send.study_instance_uid == issued["study_uid"]
    assert [item["what"] for item in send.instances] == ["structured report", "PDF"]

    (study,) = pacs.post("/tools/find", {"Level": "Study", "Query": {"StudyInstanceUID": issued["study_uid"]}}).json()
    in_study = pacs.get(f"/studies/{study}/instances").json()
    assert len(in_study) == 6 + 2
    by_uid = {item["MainDicomTags"]["SOPInstanceUID"]: item["ID"] for item in in_study}
    sr_uid, pdf_uid = (item["sop_instance_uid"] for item in send.instances)
    pdf = pydicom.dcmread(io.BytesIO(pacs.get(f"/instances/{by_uid[pdf_uid]}/file").content))
    sr = pydicom.dcmread(io.BytesIO(pacs.get(f"/instances/{by_uid[sr_uid]}/file").content))
    assert pdf.SOPClassUID == ENCAPSULATED_PDF_STORAGE and sr.SOPClassUID == COMPREHENSIVE_3D_SR
    assert pdf_of(pdf) == version.pdf.open("rb").read()
    assert pdf.PatientID == sr.PatientID == "MRN-PACS-1"
    assert pdf.SourceInstanceSequence[0].ReferencedSOPInstanceUID == sr_uid
    assert pacs.get(f"/instances/{by_uid[pdf_uid]}/patient").json()["MainDicomTags"]["PatientID"] == "MRN-PACS-1"

    asked = AuditEvent.objects.get(record_type="reports.PacsSend", kind=AuditEvent.Kind.CREATE, channel="api")
    done = AuditEvent.objects.get(record_type="reports.PacsSend", kind=AuditEvent.Kind.CREATE, channel="worker")
    assert asked.donor_id == done.donor_id == issued["donor"].pk
    assert PACS_AE in done.summary and sr_uid in str(done.changes)

    listed = _api(staff["coordinator"]).get(f"/api/v1/reports/{version.pk}/pacs/")
    assert listed.status_code == 200 and listed.json()[0]["state"] == "sent"


def test_an_unreachable_pacs_is_tried_again_then_the_failure_is_shown(
    issued, staff, centre, settings, django_capture_on_commit_callbacks
):
    settings.PACS_RETRIES = 2
    settings.PACS_TIMEOUT_SECONDS = 2
    report_services.set_pacs_destination(
        actor=actor(staff["surgeon"]), centre=centre, ae_title=PACS_AE, host="127.0.0.1", port=free_port()
    )
    version = issued["version"]
    browser = Client()
    browser.force_login(staff["hepatologist"])
    page = browser.get(f"/reports/versions/{version.pk}/").content.decode()
    assert 'data-testid="send-to-pacs"' in page
    # In-process, a retry runs at once (its countdown is a worker's); propagating would stop at the first.
    propagates = current_app.conf.task_eager_propagates
    current_app.conf.task_eager_propagates = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            asked = browser.post(f"/reports/versions/{version.pk}/pacs/")
    finally:
        current_app.conf.task_eager_propagates = propagates
    assert asked.status_code == 302 and asked["Location"].endswith(f"/reports/versions/{version.pk}/#pacs")
    send = PacsSend.objects.get(version=version)
    assert send.state == PacsSend.State.FAILED and send.attempts == 3
    assert "could not associate" in send.error and send.finished_at is not None
    shown = browser.get(f"/reports/versions/{version.pk}/").content.decode()
    assert 'data-testid="pacs-sends"' in shown and "could not associate" in shown and "3 attempts" in shown
    failed = AuditEvent.objects.get(record_type="reports.PacsSend", kind=AuditEvent.Kind.UPDATE)
    assert "after 3 attempts" in failed.summary


def test_a_pacs_that_refuses_the_association_for_good_is_not_tried_again(
    issued, staff, centre, tmp_path, django_capture_on_commit_callbacks
):
    folder = tmp_path / "strict-pacs"
    folder.mkdir()
    strict = Orthanc(folder, ae_title=PACS_AE, settings={"DicomCheckCalledAet": True})
    try:
        report_services.set_pacs_destination(
            actor=actor(staff["surgeon"]), centre=centre, ae_title="WRONGAE", host="127.0.0.1", port=strict.dicom_port
        )
        with django_capture_on_commit_callbacks(execute=True):
            answer = _api(staff["hepatologist"]).post(f"/api/v1/reports/{issued['version'].pk}/pacs/")
        assert answer.status_code == 202
        send = PacsSend.objects.get(pk=answer.json()["id"])
        assert send.state == PacsSend.State.FAILED and send.attempts == 1
        assert "refused the association" in send.error and "Rejected Permanent" in send.error
        assert strict.get("/instances").json() == []
    finally:
        strict.stop()


def test_who_may_send_and_what_is_refused(issued, staff, centre, django_capture_on_commit_callbacks):
    version = issued["version"]
    nowhere = _api(staff["surgeon"]).post(f"/api/v1/reports/{version.pk}/pacs/")
    assert nowhere.status_code == 409 and "destination" in nowhere.json()["error"]["fields"]
    report_services.set_pacs_destination(
        actor=actor(staff["surgeon"]), centre=centre, ae_title=PACS_AE, host="127.0.0.1", port=free_port()
    )
    assert _api(staff["radiologist"]).post(f"/api/v1/reports/{version.pk}/pacs/").status_code == 403
    assert _api(staff["auditor"]).get(f"/api/v1/reports/{version.pk}/pacs/").status_code == 403
    browser = Client()
    browser.force_login(staff["radiologist"])
    assert 'data-testid="send-to-pacs"' not in browser.get(f"/reports/versions/{version.pk}/").content.decode()
    assert not PacsSend.objects.exists()


def test_the_identity_of_a_donor_without_images_is_a_study_of_its_own(
    staff, centre, media, eager_tasks, django_capture_on_commit_callbacks, monkeypatch
):
    from reports.jobs import report_instances

    monkeypatch.setattr(report_pdf, "render_report_pdf", small_pdf)
    donor = DonorFactory(centre=centre, code="D-NOIMG", mrn="MRN-NOIMG")
    radiologist = actor(staff["radiologist"])
    with django_capture_on_commit_callbacks(execute=True):
        annotation = classification_services.save_annotation(actor=radiologist, donor=donor, document=typical())
    annotation.refresh_from_db()
    classification_services.finalise_annotation(
        actor=radiologist, annotation=annotation, expected_version=annotation.version
    )
    with django_capture_on_commit_callbacks(execute=True):
        version = report_services.issue_report(actor=actor(staff["surgeon"]), donor=donor)
    version.refresh_from_db()
    built = report_instances(version)
    assert [what for what, _ in built.datasets] == ["PDF"]  # no images, so no SR: the note says why
    assert "structured report was not sent" in built.note
    (_, pdf), again = built.datasets[0], report_instances(version).datasets[0][1]
    assert pdf.PatientID == "MRN-NOIMG" and pdf.StudyInstanceUID == again.StudyInstanceUID
    assert not Study.objects.filter(study_instance_uid=pdf.StudyInstanceUID).exists()


def test_the_admin_sets_a_centres_pacs_destination_audited_and_checked(centre, admin_client):
    form = {"centre": centre.pk, "ae_title": "WARDPACS", "host": "pacs.example.org", "port": "104", "enabled": "on"}
    added = admin_client.post("/admin/reports/pacsdestination/add/", form)
    assert added.status_code == 302, added.content
    destination = PacsDestination.objects.get(centre=centre)
    assert (destination.ae_title, destination.host, destination.port) == ("WARDPACS", "pacs.example.org", 104)
    event = AuditEvent.objects.get(record_type="reports.PacsDestination", channel="admin")
    assert event.kind == AuditEvent.Kind.CREATE and event.centre_id == centre.pk and "WARDPACS" in event.summary

    changed = admin_client.post(
        f"/admin/reports/pacsdestination/{destination.pk}/change/", form | {"port": "11112", "enabled": ""}
    )
    assert changed.status_code == 302, changed.content
    update = AuditEvent.objects.get(record_type="reports.PacsDestination", kind=AuditEvent.Kind.UPDATE)
    assert update.changes == {"port": [104, 11112], "enabled": [True, False]}

    for field, value in (("ae_title", "BACK\\SLASH"), ("port", "70000")):
        refused = admin_client.post(f"/admin/reports/pacsdestination/{destination.pk}/change/", form | {field: value})
        assert refused.status_code == 200 and field in refused.context["adminform"].form.errors
    destination.refresh_from_db()
    assert (destination.ae_title, destination.port, destination.enabled) == ("WARDPACS", 11112, False)
    assert admin_client.get(f"/admin/reports/pacsdestination/{destination.pk}/delete/").status_code == 403
