"""Every read of a donor's or recipient's data writes an audit event: one table of every read
endpoint and page (API, pages, pictures, files, admin, the audit trail itself), one event each.
Refused attempts on another centre's records are seen by the auditors of both centres, and an
update says which fields changed, from what to what."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from rest_framework.test import APIClient

from classification import services as classification_services
from classification.models import Annotation
from classification.presets import preset_document
from core.audit import Actor
from core.models import AuditEvent
from donors.models import Donor
from imaging import jobs as imaging_jobs
from imaging import services as imaging_services
from imaging.models import Instance, Series, Upload
from reports import pdf as report_pdf
from reports.models import ReportVersion
from reports.services import issue_report
from tests.factories import DonorFactory, RecipientFactory
from tests.integration.imaging_support import phantom
from tests.integration.test_reports import small_pdf, typical, worked_up_donor
from workup.api import RECORD_VIEWS

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

TODAY = datetime.date.today()


@pytest.fixture(autouse=True)
def fast_passwords(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def staff(make_user):
    people = {
        role: make_user(role, username=f"{role}-a")
        for role in ("coordinator", "radiologist", "hepatologist", "surgeon", "auditor", "integration_client")
    }
    people["admin"] = make_user(username="site-admin", is_staff=True, is_superuser=True)
    return people


@pytest.fixture
def world(centre, staff, eager_tasks, django_capture_on_commit_callbacks, monkeypatch, tmp_path):
    """A donor with every kind of record: workup, final anatomy, decision, issued report with its
    MIP, surgical outcome, and an imported MRCP series with its upload and files."""
    monkeypatch.setattr(report_pdf, "render_report_pdf", small_pdf)
    monkeypatch.setattr(imaging_services, "queue_ingest", lambda upload_id: None)
    capture = django_capture_on_commit_callbacks
    donor = worked_up_donor(centre, staff, capture, code="D-AUDIT")
    with capture(execute=True):
        version = issue_report(actor=Actor(user=staff["surgeon"]), donor=donor)
    donor.refresh_from_db()
    classification_services.record_outcome(
        actor=Actor(user=staff["surgeon"]),
        donor=donor,
        values={"operated_on": TODAY, "anastomoses": 1, "technique": "end-to-end"},
    )
    truth = phantom(tmp_path / "series", donor=donor, slices=3, size=32)
    files = [imaging_services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths]
    upload = imaging_services.create_upload(actor=Actor(user=staff["radiologist"]), donor=donor, files=files)
    with capture(execute=True):
        imaging_jobs.ingest_upload(upload_id=upload.pk)
    series = Series.objects.exclude(study__study_instance_uid="1.2.3.4").get(study__donor=donor)
    donor = Donor.objects.get(pk=donor.pk)
    return {
        "donor": donor.pk,
        "recipient": donor.recipient_id,
        "annotation": Annotation.objects.get(donor=donor).pk,
        "version": ReportVersion.objects.get(pk=version.pk).pk,
        "upload": upload.pk,
        "series": series.pk,
        "instance": Instance.objects.filter(series=series).first().pk,
        "report_series": Series.objects.get(study__donor=donor, study__study_instance_uid="1.2.3.4").pk,
        "history": donor.history.first().history_id,
        "donor_code": donor.code,
    }


# (name, who, method, url, body, kind, record_type, record: key of `world` or a list's id field)
# The record is the donor unless named. A list names every record it shows in its `changes`.
API = [
    ("donor list", "surgeon", "get", "/api/v1/donors/", None, "list", "donors.Donor", "donor_ids"),
    ("donor", "surgeon", "get", "/api/v1/donors/{donor}/", None, "read", "donors.Donor", "donor"),
    ("status history", "surgeon", "get", "/api/v1/donors/{donor}/transitions/", None, "read", "donors.Donor", "donor"),
    ("recipient list", "coordinator", "get", "/api/v1/recipients/", None, "list", "donors.Recipient", "recipient_ids"),
    (
        "recipient",
        "coordinator",
        "get",
        "/api/v1/recipients/{recipient}/",
        None,
        "read",
        "donors.Recipient",
        "recipient",
    ),
    *[
        (
            f"workup {slug}",
            "hepatologist",
            "get",
            f"/api/v1/donors/{{donor}}/{slug}/",
            None,
            "read",
            "donors.Donor",
            "donor",
        )
        for slug in RECORD_VIEWS
    ],
    ("workup checks", "hepatologist", "get", "/api/v1/donors/{donor}/checks/", None, "read", "donors.Donor", "donor"),
    ("decision", "hepatologist", "get", "/api/v1/donors/{donor}/decision/", None, "read", "donors.Donor", "donor"),
    (
        "classify for a donor",
        "surgeon",
        "post",
        "/api/v1/classify/?donor={donor}",
        preset_document("typical_right_lobe"),
        "read",
        "donors.Donor",
        "donor",
    ),
    ("annotation list", "radiologist", "get", "/api/v1/annotations/", None, "list", "donors.Donor", "donor_ids"),
    ("annotation", "radiologist", "get", "/api/v1/annotations/{annotation}/", None, "read", "donors.Donor", "donor"),
    (
        "classification results",
        "radiologist",
        "get",
        "/api/v1/annotations/{annotation}/results/",
        None,
        "read",
        "donors.Donor",
        "donor",
    ),
    ("outcome", "surgeon", "get", "/api/v1/donors/{donor}/outcome/", None, "read", "donors.Donor", "donor"),
    ("surgical worklist", "surgeon", "get", "/api/v1/surgical-worklist/", None, "list", "donors.Donor", "donor_ids"),
    ("upload status", "radiologist", "get", "/api/v1/uploads/{upload}/", None, "read", "imaging.Upload", "upload"),
    ("studies", "radiologist", "get", "/api/v1/donors/{donor}/studies/", None, "read", "donors.Donor", "donor"),
    ("series", "radiologist", "get", "/api/v1/series/{series}/", None, "read", "donors.Donor", "donor"),
    (
        "measurements",
        "radiologist",
        "get",
        "/api/v1/donors/{donor}/measurements/",
        None,
        "read",
        "donors.Donor",
        "donor",
    ),
    ("report", "surgeon", "get", "/api/v1/donors/{donor}/report/", None, "read", "donors.Donor", "donor"),
    (
        "report version",
        "surgeon",
        "get",
        "/api/v1/reports/{version}/",
        None,
        "read",
        "reports.ReportVersion",
        "version",
    ),
    (
        "report pdf",
        "surgeon",
        "get",
        "/api/v1/reports/{version}/pdf/",
        None,
        "download",
        "reports.ReportVersion",
        "version",
    ),
]

PAGES = [
    ("donor list page", "coordinator", "get", "/donors/", None, "list", "donors.Donor", "donor_ids"),
    ("donor page", "coordinator", "get", "/donors/{donor}/", None, "read", "donors.Donor", "donor"),
    ("donor edit form", "coordinator", "get", "/donors/{donor}/edit/", None, "read", "donors.Donor", "donor"),
    ("workup page", "hepatologist", "get", "/donors/{donor}/workup/", None, "read", "donors.Donor", "donor"),
    ("anatomy editor", "radiologist", "get", "/anatomy/donors/{donor}/", None, "read", "donors.Donor", "donor"),
    ("outcome form", "surgeon", "get", "/anatomy/donors/{donor}/outcome/", None, "read", "donors.Donor", "donor"),
    ("worklist page", "surgeon", "get", "/anatomy/worklist/", None, "list", "donors.Donor", "donor_ids"),
    ("upload page", "radiologist", "get", "/imaging/donors/{donor}/upload/", None, "read", "donors.Donor", "donor"),
    ("upload report", "radiologist", "get", "/imaging/uploads/{upload}/", None, "read", "donors.Donor", "donor"),
    ("viewer", "radiologist", "get", "/imaging/series/{series}/", None, "read", "donors.Donor", "donor"),
    ("series mip", "radiologist", "get", "/imaging/series/{series}/mip.png", None, "read", "imaging.Series", "series"),
    (
        "series thumbnail",
        "radiologist",
        "get",
        "/imaging/series/{series}/thumbnail.png",
        None,
        "read",
        "imaging.Series",
        "series",
    ),
    ("slice", "radiologist", "get", "/imaging/series/{series}/slices/1.png", None, "read", "imaging.Series", "series"),
    (
        "dicom file",
        "radiologist",
        "get",
        "/imaging/instances/{instance}/file.dcm",
        None,
        "download",
        "imaging.Instance",
        "instance",
    ),
    ("report page", "surgeon", "get", "/reports/donors/{donor}/", None, "read", "donors.Donor", "donor"),
    (
        "report mip",
        "surgeon",
        "get",
        "/reports/donors/{donor}/mip.png",
        None,
        "read",
        "imaging.Series",
        "report_series",
    ),
    (
        "version page",
        "surgeon",
        "get",
        "/reports/versions/{version}/",
        None,
        "read",
        "reports.ReportVersion",
        "version",
    ),
    (
        "version pdf",
        "surgeon",
        "get",
        "/reports/versions/{version}/pdf/",
        None,
        "download",
        "reports.ReportVersion",
        "version",
    ),
    (
        "version mip",
        "surgeon",
        "get",
        "/reports/versions/{version}/mip.png",
        None,
        "read",
        "reports.ReportVersion",
        "version",
    ),
    (
        "audit trail",
        "auditor",
        "get",
        "/donors/audit/?donor_code={donor_code}",
        None,
        "read",
        "donors.AuditEvent",
        None,
    ),
]

ADMIN = [
    ("admin donor list", "admin", "get", "/admin/donors/donor/", None, "list", "donors.Donor", "donor_ids"),
    ("admin donor", "admin", "get", "/admin/donors/donor/{donor}/change/", None, "read", "donors.Donor", "donor"),
    (
        "admin donor history",
        "admin",
        "get",
        "/admin/donors/donor/{donor}/history/",
        None,
        "read",
        "donors.Donor",
        "donor",
    ),
    (
        "admin donor past version",
        "admin",
        "get",
        "/admin/donors/donor/{donor}/history/{history}/",
        None,
        "read",
        "donors.Donor",
        "donor",
    ),
    (
        "admin recipient list",
        "admin",
        "get",
        "/admin/donors/recipient/",
        None,
        "list",
        "donors.Recipient",
        "record_ids:recipient",
    ),
    (
        "admin recipient",
        "admin",
        "get",
        "/admin/donors/recipient/{recipient}/change/",
        None,
        "read",
        "donors.Recipient",
        "recipient",
    ),
    (
        "admin recipient history",
        "admin",
        "get",
        "/admin/donors/recipient/{recipient}/history/",
        None,
        "read",
        "donors.Recipient",
        "recipient",
    ),
    (
        "admin status changes",
        "admin",
        "get",
        "/admin/donors/statuschange/",
        None,
        "list",
        "donors.StatusChange",
        "donor_ids",
    ),
    ("admin lab results", "admin", "get", "/admin/workup/labresult/", None, "list", "donors.LabResult", "donor_ids"),
    ("admin decisions", "admin", "get", "/admin/workup/decision/", None, "list", "donors.Decision", "donor_ids"),
    ("admin audit events", "admin", "get", "/admin/core/auditevent/", None, "list", "donors.AuditEvent", None),
]

ENDPOINTS = API + PAGES + ADMIN


def request(user, method, url, body):
    if url.startswith("/api/"):
        client = APIClient()
        client.force_authenticate(user)
        return getattr(client, method)(url, body, format="json")
    client = Client()
    client.force_login(user)
    return getattr(client, method)(url)


@pytest.mark.parametrize("name,who,method,url,body,kind,record_type,record", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_every_read_writes_one_event(world, staff, centre, name, who, method, url, body, kind, record_type, record):
    user = staff[who]
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    response = request(user, method, url.format(**world), body)
    assert response.status_code == 200, (name, response.status_code, response.content[:300])
    new = list(AuditEvent.objects.exclude(pk__in=before))
    assert len(new) == 1, (name, [(e.kind, e.record_type, e.summary) for e in new])
    event = new[0]
    assert (event.kind, event.record_type, event.user, event.centre_id) == (kind, record_type, user, centre.pk), name
    if record is not None and record.endswith("_ids"):
        assert world[record.removesuffix("_ids")] in event.changes[record], (name, event.changes)
    elif record is not None and ":" in record:
        field, key = record.split(":")
        assert world[key] in event.changes[field], (name, event.changes)
    elif record is not None:
        assert event.record_id == str(world[record]), (name, event.record_id)
    if record not in (None, "recipient", "recipient_ids", "record_ids:recipient", "donor_ids"):
        assert event.donor_id == world["donor"], (name, event.donor_id)
    assert event.channel == channel_of(url, kind), (name, event.channel)


def channel_of(url, kind) -> str:
    if url.startswith("/api/"):
        return "api"
    if url.startswith("/admin/"):
        return "admin"
    return "download" if url.endswith("/pdf/") else "page"


def test_viewing_the_audit_trail_records_the_filters(world, staff):
    client = Client()
    client.force_login(staff["auditor"])
    response = client.get(f"/donors/audit/?donor_code={world['donor_code']}&kind=update")
    assert response.status_code == 200
    event = AuditEvent.objects.get(user=staff["auditor"])
    assert event.summary == f"viewed the audit trail (donor_code={world['donor_code']}, kind=update)"
    assert event.changes == {"filters": {"donor_code": world["donor_code"], "kind": "update"}, "page": 1}
    # The page shows the trail as it was before this view of it.
    assert "viewed the audit trail" not in response.content.decode()


def test_an_admin_list_of_two_centres_is_filed_under_each(world, staff, centre, other_centre):
    foreign = DonorFactory(centre=other_centre, code="D-FAR")
    client = Client()
    client.force_login(staff["admin"])
    assert client.get("/admin/donors/donor/").status_code == 200
    events = {e.centre_id: e for e in AuditEvent.objects.filter(user=staff["admin"], kind="list")}
    assert set(events) == {centre.pk, other_centre.pk}
    assert events[other_centre.pk].changes["donor_codes"] == ["D-FAR"]
    assert events[other_centre.pk].changes["donor_ids"] == [foreign.pk]
    assert world["donor_code"] in events[centre.pk].changes["donor_codes"]


# ---------------------------------------------------------------- refused attempts


def auditor_sees(auditor, **filters) -> list[AuditEvent]:
    from donors import selectors

    return list(selectors.audit_trail(actor=Actor(user=auditor), **filters).filter(kind="denied"))


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/donors/{donor}/",
        "/api/v1/recipients/{recipient}/",
        "/api/v1/annotations/{annotation}/",
        "/api/v1/series/{series}/",
        "/api/v1/reports/{version}/",
        "/donors/{donor}/",
        "/reports/versions/{version}/",
    ],
)
def test_a_refused_attempt_is_seen_by_both_centres_auditors(world, staff, make_user, other_centre, url):
    prober = make_user("surgeon", centre_obj=other_centre, username="prober")
    prober_auditor = make_user("auditor", centre_obj=other_centre, username="prober-auditor")
    response = request(prober, "get", url.format(**world), None)
    assert response.status_code == 404
    event = AuditEvent.objects.get(kind="denied", user=prober)
    assert event.centre_id == other_centre.pk and event.target_centre_id == staff["auditor"].centre_id
    assert event.donor_code == ""  # the prober's centre does not learn the donor's code
    assert auditor_sees(prober_auditor) == [event]
    assert auditor_sees(staff["auditor"]) == [event]
    # The target centre's auditor finds it by the donor's code; the prober's auditor cannot.
    assert auditor_sees(staff["auditor"], donor_code=world["donor_code"]) == (
        [event] if "recipients" not in url else []
    )
    assert auditor_sees(prober_auditor, donor_code=world["donor_code"]) == []
    page = Client()
    page.force_login(staff["auditor"])
    html = page.get("/donors/audit/?kind=denied").content.decode()
    assert "refused: not a record of your centre (from Other Centre)" in html


def test_a_refused_attempt_answers_as_for_a_missing_record(world, make_user, other_centre):
    prober = make_user("surgeon", centre_obj=other_centre, username="prober")
    client = APIClient()
    client.force_authenticate(prober)
    existing = client.get(f"/api/v1/donors/{world['donor']}/")
    missing = client.get("/api/v1/donors/987654321/")
    assert existing.status_code == missing.status_code == 404
    assert existing.json()["error"] | {"message": ""} == missing.json()["error"] | {"message": ""}
    assert AuditEvent.objects.filter(kind="denied", user=prober).count() == 1


def test_a_missing_record_writes_no_refusal(staff):
    client = APIClient()
    client.force_authenticate(staff["surgeon"])
    assert client.get("/api/v1/donors/987654321/").status_code == 404
    assert not AuditEvent.objects.filter(kind="denied").exists()


# ---------------------------------------------------------------- what an update changed


def test_two_edits_of_the_operation_date_are_two_different_rows(world, staff):
    client = APIClient()
    client.force_authenticate(staff["surgeon"])
    url = f"/api/v1/donors/{world['donor']}/outcome/"
    first_day, second_day = TODAY - datetime.timedelta(days=1), TODAY
    # The operation may not precede the decision: the team decided a week ago.
    from django.utils import timezone

    from workup.models import Decision

    Decision.objects.filter(donor_id=world["donor"]).update(completed_at=timezone.now() - datetime.timedelta(days=7))
    version = client.get(url).json()["version"]
    body = {"anastomoses": 1, "technique": "end-to-end"}
    assert (
        client.post(url, body | {"operated_on": str(first_day), "version": version}, format="json").status_code == 200
    )
    assert (
        client.post(url, body | {"operated_on": str(second_day), "version": version + 1}, format="json").status_code
        == 200
    )
    updates = AuditEvent.objects.filter(kind="update", record_type="classification.SurgicalOutcome").order_by("pk")
    assert [e.changes for e in updates] == [
        {"operated_on": [str(TODAY), str(first_day)]},
        {"operated_on": [str(first_day), str(second_day)]},
    ]
    assert updates[0].summary.endswith("; changed operated_on")
    assert updates[0].change_lines == [f"operated_on: {TODAY} -> {first_day}"]
    page = Client()
    page.force_login(staff["auditor"])
    html = page.get("/donors/audit/?kind=update").content.decode()
    assert f"operated_on: {first_day} -&gt; {second_day}" in html


def test_an_outcome_saved_unchanged_names_no_field(world, staff):
    client = APIClient()
    client.force_authenticate(staff["surgeon"])
    url = f"/api/v1/donors/{world['donor']}/outcome/"
    current = client.get(url).json()
    body = {k: current[k] for k in ("operated_on", "anastomoses", "technique", "version")}
    assert client.post(url, body, format="json").status_code == 200
    event = AuditEvent.objects.filter(kind="update", record_type="classification.SurgicalOutcome").get()
    assert event.changes == {} and event.summary.endswith("; nothing changed")


def test_a_changed_anatomy_names_what_changed(centre, staff, eager_tasks, django_capture_on_commit_callbacks):
    donor = DonorFactory(centre=centre, recipient=RecipientFactory(centre=centre))
    actor = Actor(user=staff["radiologist"])
    with django_capture_on_commit_callbacks(execute=True):
        annotation = classification_services.save_annotation(actor=actor, donor=donor, document=typical())
        first_sha = annotation.document_sha256
        annotation = classification_services.save_annotation(
            actor=actor, donor=donor, document=typical(), expected_version=annotation.version, study_uid="9.8.7"
        )
        annotation = classification_services.save_annotation(
            actor=actor, donor=donor, document=typical(4.0), expected_version=annotation.version
        )
    updates = AuditEvent.objects.filter(kind="update", record_type="classification.Annotation").order_by("pk")
    assert [e.changes for e in updates] == [
        {"study_uid": ["", "9.8.7"]},
        {"document_sha256": [first_sha, annotation.document_sha256], "revision": [1, 2]},
    ]


def test_a_failed_pdf_asked_again_names_the_state_change(world, staff):
    from reports.services import retry_pdf

    ReportVersion.objects.filter(pk=world["version"]).update(pdf_state="failed", pdf_error="renderer crashed")
    retry_pdf(actor=Actor(user=staff["surgeon"]), version=ReportVersion.objects.get(pk=world["version"]))
    event = AuditEvent.objects.get(kind="update", record_type="reports.ReportVersion")
    assert event.changes == {"pdf_state": ["failed", "pending"], "pdf_error": ["renderer crashed", ""]}


def test_a_stopped_upload_names_the_state_change(world, staff, tmp_path):
    from imaging.ingest import fail_upload

    truth = phantom(tmp_path / "again", slices=1, size=16)
    files = [imaging_services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths]
    upload = imaging_services.create_upload(
        actor=Actor(user=staff["radiologist"]), donor=Donor.objects.get(pk=world["donor"]), files=files
    )
    state = Upload.objects.get(pk=upload.pk).state
    fail_upload(upload_id=upload.pk, reason="the worker stopped three times")
    event = AuditEvent.objects.get(kind="update", record_type="imaging.Upload")
    assert event.changes == {"state": [state, "failed"], "error": ["", "the worker stopped three times"]}


def test_a_revoked_token_names_when(staff):
    from core.tokens import issue_api_client, revoke_api_client

    client, _ = issue_api_client(centre=staff["integration_client"].centre, name="lab system")
    revoke_api_client(client=client)
    event = AuditEvent.objects.get(kind="update", record_type="donors.ApiClient")
    client.refresh_from_db()
    assert event.changes == {"revoked_at": [None, client.revoked_at.isoformat()]}
