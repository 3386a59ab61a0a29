"""A final anatomy sent to the centre's PACS on its own, before any report: Orthanc (Debian's) as the PACS
stores its SR by C-STORE in the donor's MRCP study, beside the images. Only the radiologist sends it; a draft,
a centre without a PACS, images of unresolved identity and a send still under way are refused."""

from __future__ import annotations

import io

import pydicom
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from classification import services as classification_services
from classification.models import Annotation
from core.models import AuditEvent
from imaging.models import Study
from reports import jobs as report_jobs
from reports import services as report_services
from reports.models import PacsSend
from tests.integration.orthanc_support import Orthanc, free_port, needs_orthanc
from tests.integration.test_report_to_pacs import COMPREHENSIVE_3D_SR, PACS_AE, final_anatomy_on_mrcp
from tests.integration.test_reports import actor, typical

pytestmark = [pytest.mark.django_db, needs_orthanc]

# The whole anatomy page with its PACS panel (the destination and the last sends are one query each) and the
# proposed tree's panel (one query): the panels' rows never cost a query apiece.
QUERIES_ON_THE_ANATOMY_PAGE = 12


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


@pytest.fixture
def read(centre, staff, media, eager_tasks, django_capture_on_commit_callbacks, tmp_path):
    return final_anatomy_on_mrcp(centre, staff, django_capture_on_commit_callbacks, tmp_path / "mrcp")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _point_at(centre, staff, port: int) -> None:
    report_services.set_pacs_destination(
        actor=actor(staff["surgeon"]), centre=centre, ae_title=PACS_AE, host="127.0.0.1", port=port
    )


def _revise(read, staff) -> None:
    """The radiologist changes the final anatomy: a new revision, a draft."""
    current = Annotation.objects.get(pk=read["annotation"].pk)
    classification_services.save_annotation(
        actor=actor(staff["radiologist"]),
        donor=read["donor"],
        document=typical(8.0),
        expected_version=current.version,
        series_id=read["series"].pk,
    )


def test_the_anatomy_sr_lands_in_the_donors_mrcp_study_before_any_report(
    read, pacs, staff, centre, django_capture_on_commit_callbacks
):
    pacs.load(read["paths"])  # the PACS holds the MRCP already, as a hospital's does
    _point_at(centre, staff, pacs.dicom_port)
    annotation = read["annotation"]
    assert not annotation.donor.report_versions.exists()
    with django_capture_on_commit_callbacks(execute=True):
        answer = _api(staff["radiologist"]).post(f"/api/v1/annotations/{annotation.pk}/pacs/")
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["annotation"] == annotation.pk and body["annotation_revision"] == annotation.revision
    assert body["version"] is None
    send = PacsSend.objects.get(pk=body["id"])
    assert send.state == PacsSend.State.SENT, send.error
    assert send.attempts == 1 and send.study_instance_uid == read["study_uid"]
    assert [item["what"] for item in send.instances] == ["structured report"]

    (study,) = pacs.post("/tools/find", {"Level": "Study", "Query": {"StudyInstanceUID": read["study_uid"]}}).json()
    in_study = pacs.get(f"/studies/{study}/instances").json()
    assert len(in_study) == 6 + 1
    (sr_uid,) = (item["sop_instance_uid"] for item in send.instances)
    (stored_id,) = [i["ID"] for i in in_study if i["MainDicomTags"]["SOPInstanceUID"] == sr_uid]
    sr = pydicom.dcmread(io.BytesIO(pacs.get(f"/instances/{stored_id}/file").content))
    assert sr.SOPClassUID == COMPREHENSIVE_3D_SR and sr.PatientID == "MRN-PACS-1"
    assert sr.InstanceNumber == annotation.revision
    cited = {ref.SeriesInstanceUID for ref in sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence}
    assert cited == {read["series"].series_instance_uid}

    asked = AuditEvent.objects.get(record_type="reports.PacsSend", kind=AuditEvent.Kind.CREATE, channel="api")
    done = AuditEvent.objects.get(record_type="reports.PacsSend", kind=AuditEvent.Kind.CREATE, channel="worker")
    assert asked.donor_id == done.donor_id == read["donor"].pk
    assert f"the biliary anatomy (revision {annotation.revision})" in asked.summary and PACS_AE in done.summary
    assert sr_uid in str(done.changes)

    listed = _api(staff["surgeon"]).get(f"/api/v1/annotations/{annotation.pk}/pacs/")
    assert listed.status_code == 200 and [s["state"] for s in listed.json()] == ["sent"]
    assert AuditEvent.objects.filter(
        kind=AuditEvent.Kind.READ, donor_id=read["donor"].pk, summary__contains="sends to PACS"
    ).exists()

    again = _api(staff["radiologist"]).post(f"/api/v1/annotations/{annotation.pk}/pacs/")
    assert again.status_code == 202  # a finished send does not hold the next one back


def test_who_may_send_and_what_is_refused(
    read, staff, centre, other_centre, make_user, django_capture_on_commit_callbacks
):
    annotation = read["annotation"]
    url = f"/api/v1/annotations/{annotation.pk}/pacs/"
    nowhere = _api(staff["radiologist"]).post(url)
    assert nowhere.status_code == 409 and "no PACS destination" in nowhere.json()["error"]["fields"]["destination"][0]
    _point_at(centre, staff, free_port())
    for role in ("coordinator", "hepatologist", "surgeon", "auditor"):
        assert _api(staff[role]).post(url).status_code == 403, role
    assert _api(staff["auditor"]).get(url).status_code == 403
    stranger = make_user("radiologist", centre_obj=other_centre, username="radiologist-elsewhere")
    assert _api(stranger).post(url).status_code == 404
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.DENIED, record_type="classification.Annotation").exists()

    Study.objects.filter(donor=read["donor"]).update(identity_state=Study.Identity.UNRESOLVED)
    doubt = _api(staff["radiologist"]).post(url)
    assert doubt.status_code == 409 and "may not be the donor's" in doubt.json()["error"]["message"]
    Study.objects.filter(donor=read["donor"]).update(identity_state=Study.Identity.MATCHED)

    with django_capture_on_commit_callbacks(execute=False):  # asked, the worker not yet run
        assert _api(staff["radiologist"]).post(url).status_code == 202
    running = _api(staff["radiologist"]).post(url)
    assert running.status_code == 409 and "still queued" in running.json()["error"]["fields"]["annotation"][0]

    with django_capture_on_commit_callbacks(execute=True):
        _revise(read, staff)
    draft = _api(staff["radiologist"]).post(url)
    assert draft.status_code == 409 and "is a draft" in draft.json()["error"]["fields"]["annotation"][0]
    assert PacsSend.objects.count() == 1


def test_an_anatomy_changed_after_the_send_was_asked_is_not_sent(
    read, staff, centre, admin_client, django_capture_on_commit_callbacks
):
    _point_at(centre, staff, free_port())
    with django_capture_on_commit_callbacks(execute=False):
        send = report_services.send_anatomy_to_pacs(actor=actor(staff["radiologist"]), annotation=read["annotation"])
    with django_capture_on_commit_callbacks(execute=True):
        _revise(read, staff)
    assert report_jobs.send_to_pacs(send_id=send.pk) is False
    send.refresh_from_db()
    assert send.state == PacsSend.State.FAILED and send.attempts == 1
    assert "changed after the send was asked (revision 1, now revision 2, draft)" in send.error
    failed = AuditEvent.objects.get(record_type="reports.PacsSend", kind=AuditEvent.Kind.UPDATE, channel="worker")
    assert failed.donor_id == read["donor"].pk and "the biliary anatomy (revision 1)" in failed.summary
    listed = admin_client.get("/admin/reports/pacssend/")
    assert listed.status_code == 200 and "send of the biliary anatomy (revision 1)" in listed.content.decode()


def test_the_anatomy_page_sends_and_shows_the_outcome(read, pacs, staff, centre, django_capture_on_commit_callbacks):
    donor, annotation = read["donor"], read["annotation"]
    page_url = f"/anatomy/donors/{donor.pk}/"
    radiologist = Client()
    radiologist.force_login(staff["radiologist"])
    without = radiologist.get(page_url).content.decode()
    assert 'data-testid="anatomy-pacs"' in without and "No PACS destination" in without
    assert 'data-testid="send-anatomy-to-pacs"' not in without
    refused = radiologist.post(f"/reports/anatomies/{annotation.pk}/pacs/", follow=True)
    assert "no PACS destination" in refused.content.decode() and not PacsSend.objects.exists()

    _point_at(centre, staff, pacs.dicom_port)
    surgeon = Client()
    surgeon.force_login(staff["surgeon"])
    seen = surgeon.get(page_url).content.decode()
    assert 'data-testid="anatomy-pacs"' in seen and 'data-testid="send-anatomy-to-pacs"' not in seen

    for _ in range(2):  # two rows in the panel
        with django_capture_on_commit_callbacks(execute=True):
            asked = radiologist.post(f"/reports/anatomies/{annotation.pk}/pacs/")
        assert asked.status_code == 302 and asked["Location"] == f"{page_url}#pacs"
    with CaptureQueriesContext(connection) as queries:
        shown = radiologist.get(page_url).content.decode()
    assert 'data-testid="anatomy-pacs-sends"' in shown
    assert shown.count(f"structured report stored in study {read['study_uid']}") == 2
    assert len(queries) <= QUERIES_ON_THE_ANATOMY_PAGE, [q["sql"] for q in queries]
    assert AuditEvent.objects.filter(record_type="reports.PacsSend", channel="page").count() == 2
    assert Annotation.objects.get(pk=annotation.pk).state == Annotation.State.FINAL
