"""A study whose files name another patient is quarantined: its series are unresolved until a
radiologist confirms the study is the donor's (with a reason) or detaches it to the centre's unmatched
studies. While any series is unresolved the anatomy is not marked final, the decision is not signed and
no report is issued; no report shows images of an unresolved or detached series."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from classification import services as classification_services
from classification.models import Annotation
from core.errors import IllegalState
from core.models import AuditEvent
from imaging import jobs, services
from imaging.models import Instance, Series, Study
from imaging.selectors import identity_blockers
from reports.content import report_content
from reports.models import ReportVersion
from tests.factories import DonorFactory
from tests.integration.imaging_support import phantom
from tests.integration.test_reports import (
    actor,
    api,
    browser,
    donor_from_fixture,
    issue_api,
    typical,
    worked_up_donor,
)
from workup import services as workup_services

pytestmark = pytest.mark.django_db

WRONG_MRN = "MRN555555"


@pytest.fixture(autouse=True)
def media(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users
    monkeypatch.setattr(services, "queue_ingest", lambda upload_id: None)  # the tests import in-process
    return tmp_path / "media"


@pytest.fixture
def staff(make_user):
    return {
        role: make_user(role, username=f"{role}-q", first_name=role.capitalize(), last_name="Tester")
        for role in ("coordinator", "radiologist", "hepatologist", "surgeon")
    }


def ingest_study(donor, uploader, folder, **patient) -> Study:
    """Upload a small rendered MRCP phantom for the donor and import it; returns its study."""
    truth = phantom(folder, slices=6, size=32, **patient)
    files = [services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths]
    upload = services.create_upload(actor=actor(uploader), donor=donor, files=files)
    jobs.ingest_upload(upload_id=upload.pk)
    return Study.objects.filter(series__instances__upload=upload).distinct().get()


def wrong_patient_study(donor, staff, folder) -> Study:
    return ingest_study(donor, staff["coordinator"], folder, patient_id=WRONG_MRN, patient_name="Wrong^Patient")


def sign(user, donor, decision, role):
    return api(user).post(
        f"/api/v1/donors/{donor.pk}/decision/",
        {"decision_action": "sign", "decision": decision.pk, "signed_as": role},
        format="json",
    )


def test_an_unresolved_series_blocks_finalising_signing_and_issuing_until_confirmed(
    centre, staff, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    donor = worked_up_donor(centre, staff, capture, code="D-WRONG", with_mip=False, decision=False)
    decision = workup_services.propose_decision(
        actor=actor(staff["surgeon"]),
        donor=donor,
        outcome="suitable",
        reasons="complete workup",
        override_reason="biliary type from the final anatomy: type 1",
    )
    study = wrong_patient_study(donor, staff, tmp_path / "wrong")
    series = study.series.get()
    assert study.identity_state == "unresolved" and series.mip_path  # rendered, but not the donor's for sure

    [blocker] = identity_blockers(donor)
    assert f"patient ID in the files is '{WRONG_MRN}', the donor's MRN is '{donor.mrn}'" in blocker
    assert f"series '{series.description}'" in blocker and "a radiologist must confirm" in blocker

    # The decision cannot be signed (API and service), whoever signs.
    refused = sign(staff["radiologist"], donor, decision, "radiologist")
    assert refused.status_code == 409, refused.content
    error = refused.json()["error"]
    assert error["message"].startswith("cannot sign the decision") and WRONG_MRN in error["message"]
    assert error["fields"]["images"] == [blocker]
    with pytest.raises(IllegalState) as signing:
        workup_services.sign_decision(
            actor=actor(staff["surgeon"]), donor=donor, decision_id=decision.pk, signed_as="surgeon"
        )
    assert signing.value.status_code == 409
    assert not decision.sign_offs.exists()

    # No report is issued (API and page), and the live report does not show the series' MIP.
    refused = issue_api(staff["surgeon"], donor, capture)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "illegal_state" and WRONG_MRN in refused.json()["error"]["message"]
    page = browser(staff["surgeon"]).post(f"/reports/donors/{donor.pk}/issue/")
    assert page.status_code == 409 and "cannot issue the report" in page.content.decode()
    assert not ReportVersion.objects.exists()
    assert report_content(donor_from_fixture(donor))["biliary"]["mip"] is None
    html = browser(staff["surgeon"]).get(f"/reports/donors/{donor.pk}/").content.decode()
    assert "mip.png" not in html and 'data-testid="identity-blockers"' in html and WRONG_MRN in html
    assert browser(staff["surgeon"]).get(f"/reports/donors/{donor.pk}/mip.png").status_code == 404

    # A changed anatomy cannot be marked final again.
    annotation = Annotation.objects.get(donor=donor)
    with capture(execute=True):
        classification_services.save_annotation(
            actor=actor(staff["radiologist"]), donor=donor, document=typical(8.0), expected_version=annotation.version
        )
    annotation.refresh_from_db()
    assert annotation.state == "draft"
    refused = api(staff["radiologist"]).post(
        f"/api/v1/annotations/{annotation.pk}/finalise/", {"version": annotation.version}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["message"].startswith("cannot mark the anatomy final")
    annotation.refresh_from_db()
    assert annotation.state == "draft"

    # The radiologist confirms with a reason; everything goes on, and the report shows the confirmed series.
    confirmed = api(staff["radiologist"]).post(
        f"/api/v1/studies/{study.pk}/confirm/", {"reason": "same person: MRN merged in the HIS"}, format="json"
    )
    assert confirmed.status_code == 200 and confirmed.json()["identity_state"] == "confirmed"
    assert identity_blockers(donor) == []
    annotation = classification_services.finalise_annotation(
        actor=actor(staff["radiologist"]), annotation=annotation, expected_version=annotation.version
    )
    assert annotation.state == "final"
    for role in ("radiologist", "hepatologist", "surgeon"):
        assert sign(staff[role], donor, decision, role).status_code in (200, 201)
    issued = issue_api(staff["surgeon"], donor, capture)
    assert issued.status_code == 201, issued.content
    version = ReportVersion.objects.get()
    assert version.content["biliary"]["mip"]["series_id"] == series.pk and version.mip_path


def test_detaching_keeps_the_files_among_the_unmatched_studies_and_attaching_checks_again(
    centre, staff, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    donor = DonorFactory(centre=centre, code="D-FIRST")
    study = wrong_patient_study(donor, staff, tmp_path / "wrong")
    files = list(Instance.objects.filter(series__study=study).values_list("file", flat=True))
    radiologist = api(staff["radiologist"])

    missing = radiologist.post(f"/api/v1/studies/{study.pk}/detach/", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    assert (
        api(staff["coordinator"])
        .post(f"/api/v1/studies/{study.pk}/detach/", {"reason": "x"}, format="json")
        .status_code
        == 403
    )
    response = radiologist.post(
        f"/api/v1/studies/{study.pk}/detach/", {"reason": "another patient's MRCP sent by mistake"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["identity_state"] == "detached" and body["donor"] is None and body["detached_from"] == donor.pk
    study.refresh_from_db()
    assert study.centre == centre and study.donor is None
    assert all(default_storage.exists(path) for path in files)  # the files are kept
    assert not Instance.objects.filter(series__study=study, donor__isnull=False).exists()
    assert identity_blockers(donor) == []
    assert radiologist.get(f"/api/v1/donors/{donor.pk}/studies/").json() == []
    event = AuditEvent.objects.get(record_type="imaging.Study", kind="update", donor_id=donor.pk)
    assert event.user == staff["radiologist"] and event.changes["reason"] == "another patient's MRCP sent by mistake"
    assert event.changes["donor"] == ["D-FIRST", None]

    # Listed among the centre's unmatched studies (API and page), and viewable there.
    [listed] = radiologist.get("/api/v1/studies/unmatched/").json()
    assert listed["id"] == study.pk and listed["patient_id"] == WRONG_MRN
    page = browser(staff["radiologist"])
    html = page.get("/imaging/studies/unmatched/").content.decode()
    assert WRONG_MRN in html and "Detached from donor D-FIRST" in html and "Attach to donor" in html
    series = study.series.get()
    viewer = page.get(f"/imaging/series/{series.pk}/")
    assert viewer.status_code == 200 and "unmatched study" in viewer.content.decode()
    assert AuditEvent.objects.filter(
        kind="read", record_type="imaging.Study", record_id=str(study.pk), donor_id=None
    ).exists()
    point = {"slice": 1, "row": 5, "col": 5}
    measured = radiologist.post(
        f"/api/v1/donors/{donor.pk}/measurements/",
        {"series": series.pk, "kind": "slices", "points": [point, point | {"col": 9}]},
        format="json",
    )
    assert measured.status_code == 400  # no longer a series of this donor

    # Attached to another donor whose record does not match either: unresolved again, and blocking there.
    other = DonorFactory(centre=centre, code="D-OTHER")
    attached = radiologist.post(f"/api/v1/studies/{study.pk}/attach/", {"donor": other.pk}, format="json")
    assert attached.status_code == 200 and attached.json()["identity_state"] == "unresolved"
    assert len(identity_blockers(other)) == 1 and f"the donor's MRN is '{other.mrn}'" in identity_blockers(other)[0]
    assert set(Instance.objects.filter(series__study=study).values_list("donor_id", flat=True)) == {other.pk}
    again = radiologist.post(f"/api/v1/studies/{study.pk}/attach/", {"donor": donor.pk}, format="json")
    assert again.status_code == 409  # only an unmatched study is attached

    # Detached from there and attached on the page to the right donor: its identity matches.
    services.detach_study(actor=actor(staff["radiologist"]), study=study, reason="not D-OTHER either")
    right = DonorFactory(centre=centre, code="D-RIGHT", mrn=WRONG_MRN, given_name="Patient", family_name="Wrong")
    response = page.post(f"/imaging/studies/{study.pk}/attach/", {"donor": "D-RIGHT"})
    assert response.status_code == 302 and response["Location"] == f"/donors/{right.pk}/"
    study.refresh_from_db()
    assert study.donor == right and study.identity_state == "matched" and study.identity_warning == ""
    assert identity_blockers(right) == []
    assert page.post(f"/imaging/studies/{study.pk}/attach/", {"donor": "NOPE"}).status_code in (400, 409)
    attach_event = AuditEvent.objects.filter(record_type="imaging.Study", donor_id=right.pk).get()
    assert "attached unmatched study" in attach_event.summary and attach_event.changes["detached_from"] == "D-OTHER"


def test_a_study_of_another_centre_cannot_be_attached_or_seen(
    centre, other_centre, staff, make_user, tmp_path, eager_tasks
):
    donor = DonorFactory(centre=centre)
    study = wrong_patient_study(donor, staff, tmp_path / "wrong")
    services.detach_study(actor=actor(staff["radiologist"]), study=study, reason="wrong patient")
    stranger = make_user("radiologist", centre_obj=other_centre)
    client = api(stranger)
    assert client.get("/api/v1/studies/unmatched/").json() == []
    foreign_donor = DonorFactory(centre=other_centre)
    response = client.post(f"/api/v1/studies/{study.pk}/attach/", {"donor": foreign_donor.pk}, format="json")
    assert response.status_code == 404
    assert (
        api(staff["radiologist"])
        .post(f"/api/v1/studies/{study.pk}/attach/", {"donor": foreign_donor.pk}, format="json")
        .status_code
        == 400
    )
    study.refresh_from_db()
    assert study.donor is None


def test_an_issued_version_stops_showing_the_mip_of_a_series_detached_later(
    centre, staff, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    donor = worked_up_donor(centre, staff, capture, code="D-LATER", with_mip=False)
    study = ingest_study(
        donor,
        staff["coordinator"],
        tmp_path / "right",
        patient_id=donor.mrn,
        patient_name=f"{donor.family_name}^{donor.given_name}",
    )
    assert study.identity_state == "matched"
    with capture(execute=True):
        response = browser(staff["surgeon"]).post(f"/reports/donors/{donor.pk}/issue/")
    version = ReportVersion.objects.get()
    assert response.status_code == 302 and version.mip_path
    surgeon = browser(staff["surgeon"])
    assert surgeon.get(f"/reports/versions/{version.pk}/mip.png").status_code == 200

    services.detach_study(actor=actor(staff["radiologist"]), study=study, reason="mislabelled at the scanner")
    html = surgeon.get(f"/reports/versions/{version.pk}/").content.decode()
    assert "mip.png" not in html and "detached from the donor" in html
    assert surgeon.get(f"/reports/versions/{version.pk}/mip.png").status_code == 404
    assert report_content(donor_from_fixture(donor))["biliary"]["mip"] is None


def test_a_study_with_measurements_of_the_donor_is_not_detached(centre, staff, tmp_path, eager_tasks):
    donor = DonorFactory(centre=centre)
    study = wrong_patient_study(donor, staff, tmp_path / "wrong")
    services.confirm_identity(actor=actor(staff["radiologist"]), study=study, reason="checked with PACS")
    point = {"slice": 1, "row": 5, "col": 5}
    services.save_measurement(
        actor=actor(staff["radiologist"]),
        series=study.series.get(),
        kind="slices",
        points=[point, point | {"col": 9}],
        label="RHD",
    )
    with pytest.raises(IllegalState) as refused:
        services.detach_study(actor=actor(staff["radiologist"]), study=study, reason="after all, not the donor")
    assert "measurement" in refused.value.message
    study.refresh_from_db()
    assert study.donor == donor and study.identity_state == "confirmed"


def test_new_files_naming_someone_else_make_a_confirmed_study_unresolved_again(
    centre, staff, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    donor = worked_up_donor(
        centre, staff, django_capture_on_commit_callbacks, code="D-AGAIN", with_mip=False, decision=False
    )
    study = wrong_patient_study(donor, staff, tmp_path / "wrong")
    services.confirm_identity(actor=actor(staff["radiologist"]), study=study, reason="checked")
    assert identity_blockers(donor) == []
    truth = phantom(
        tmp_path / "more",
        slices=2,
        size=32,
        patient_id="SOMEONE-3",
        patient_name="Third^Person",
        study_uid=study.study_instance_uid,
        series_number=2,
        seed=7,
    )
    files = [services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths]
    upload = services.create_upload(actor=actor(staff["coordinator"]), donor=donor, files=files)
    jobs.ingest_upload(upload_id=upload.pk)
    study.refresh_from_db()
    assert study.identity_state == "unresolved" and "SOMEONE-3" in study.identity_warning
    assert any("SOMEONE-3" in line for line in identity_blockers(donor))
    assert Series.objects.filter(study=study).count() >= 1
