"""The suitability report: its content, the page, issuing frozen versions, the PDF, permissions
and the audit of reads and downloads."""

from __future__ import annotations

import datetime
import io
import re
import subprocess
import time
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from classification import services as classification_services
from classification.models import Annotation
from classification.presets import preset_document
from core.audit import Actor
from core.models import AuditEvent
from donors import services as donor_services
from reports import pdf as report_pdf
from reports.content import report_content
from reports.models import ReportVersion
from reports.services import issue_report
from tests.factories import DonorFactory, RecipientFactory
from workup import services as workup_services

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today()
DAY = TODAY - datetime.timedelta(days=3)
SYSTEM_LABELS = ["Proposed", "Couinaud", "Huang", "Choi", "Karakas", "Ohkubo"]


# ---------------------------------------------------------------- builders (used by the other report tests)


def actor(user, channel="page"):
    return Actor(user=user, channel=channel, ip_address="10.0.0.9")


def typical(rhd_mm=7.0):
    document = preset_document("typical_right_lobe")
    for duct in document["ducts"]:
        if duct["id"] == "RHD":
            duct["length_mm"] = rhd_mm
    return document


def annotate(donor, radiologist, capture, document=None, *, final=True) -> Annotation:
    """Record the anatomy (classified in-process) and mark it final."""
    with capture(execute=True):
        annotation = classification_services.save_annotation(
            actor=actor(radiologist), donor=donor, document=document or typical(), study_uid="1.2.3.4"
        )
    annotation.refresh_from_db()
    assert annotation.classification == "done", annotation.classification_error
    if final:
        annotation = classification_services.finalise_annotation(
            actor=actor(radiologist), annotation=annotation, expected_version=annotation.version
        )
    return annotation


def png_bytes(size=(64, 48)) -> bytes:
    from PIL import Image

    image = Image.new("L", size, 0)
    for x in range(10, 50):
        image.putpixel((x, 24), 255)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def add_mip(donor, study_uid="1.2.3.4"):
    """A rendered MRCP series with its MIP PNG in storage (as the imaging app leaves it)."""
    from imaging.models import Series, Study

    study = Study.objects.create(
        donor=donor, centre=donor.centre, study_instance_uid=study_uid, description="MRCP", study_date="20240105"
    )
    path = default_storage.save(f"imaging/donor-{donor.pk}/series-test/mip.png", ContentFile(png_bytes()))
    return Series.objects.create(
        study=study,
        series_instance_uid=study_uid + ".1",
        series_number=5,
        description="3D MRCP coronal",
        modality="MR",
        is_mrcp=True,
        render_state=Series.Render.DONE,
        mip_path=path,
        instance_count=40,
    )


def work_up(donor, staff, *, labs_records=1):
    """Every workup record of a passing workup, as the hepatologist, radiologist and coordinator enter them."""
    record = workup_services.record_workup
    for n in range(labs_records):
        record(
            actor=actor(staff["hepatologist"]),
            donor=donor,
            kind="labs",
            values={
                "measured_on": DAY,
                "ast": Decimal(20 + n),
                "ast_uln": Decimal(40),
                "alt": Decimal(25),
                "alt_uln": Decimal(41),
                "platelets": Decimal(250),
                "bilirubin_mg_dl": Decimal("0.7"),
                "albumin_g_dl": Decimal("4.3"),
                "inr": Decimal("1.05"),
                "creatinine_mg_dl": Decimal("0.8"),
                "serology": "HBsAg, anti-HCV, HIV negative",
            },
        )
    radiologist = actor(staff["radiologist"])
    record(
        actor=radiologist,
        donor=donor,
        kind="volumetry",
        values={
            "measured_on": DAY,
            "total_liver_volume_ml": Decimal(1500),
            "graft_volume_ml": Decimal(900),
            "graft_includes_mhv": False,
            "remnant_volume_ml": Decimal(600),
            "density_factor": Decimal("1.0"),
            "recipient_weight_kg": Decimal(70),
            "recipient_height_cm": Decimal(160),
        },
    )
    record(
        actor=radiologist,
        donor=donor,
        kind="steatosis",
        values={"measured_on": DAY, "modality": "mri_pdff", "pdff_pct": Decimal(3)},
    )
    record(actor=radiologist, donor=donor, kind="hepatic-artery", values={"measured_on": DAY, "michels_type": "I"})
    record(
        actor=radiologist,
        donor=donor,
        kind="portal-vein",
        values={"measured_on": DAY, "portal_scheme": "nakamura", "portal_type": "A"},
    )
    record(
        actor=radiologist,
        donor=donor,
        kind="hepatic-veins",
        values={
            "measured_on": DAY,
            "mhv_with_graft": False,
            "v5_mm": Decimal(3),
            "v8_mm": Decimal(2),
            "inferior_right_hv_mm": Decimal(0),
        },
    )
    for kind in ("psychosocial", "donor_advocate"):
        record(
            actor=actor(staff["coordinator"]),
            donor=donor,
            kind="clearances",
            values={"measured_on": DAY, "clearance_kind": kind, "clearance_status": "cleared"},
        )


def decide(donor, staff):
    """The team's decision, signed by the radiologist, the hepatologist and the surgeon."""
    decision = workup_services.propose_decision(
        actor=actor(staff["surgeon"]),
        donor=donor,
        outcome="suitable",
        reasons="complete workup, typical anatomy",
        override_reason="biliary type from the final anatomy: type 1",
    )
    for role in ("radiologist", "hepatologist", "surgeon"):
        workup_services.sign_decision(actor=actor(staff[role]), donor=donor, decision_id=decision.pk, signed_as=role)
    return decision


def worked_up_donor(centre, staff, capture, *, code="D-REPORT", labs_records=1, with_mip=True, decision=True):
    recipient = RecipientFactory(centre=centre, weight_kg=Decimal("70.0"), abo="A", code=f"R-{code}")
    donor = DonorFactory(
        centre=centre,
        code=code,
        recipient=recipient,
        status="in_evaluation",
        date_of_birth=datetime.date(TODAY.year - 40, 1, 1),
        abo="O",
    )
    annotate(donor, staff["radiologist"], capture)
    work_up(donor, staff, labs_records=labs_records)
    if with_mip:
        add_mip(donor)
    if decision:
        decide(donor, staff)
    donor.refresh_from_db()
    return donor


def pdf_text(data: bytes) -> str:
    result = subprocess.run(["/usr/bin/pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    return result.stdout.decode()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Many users per test: a fast hasher keeps the setup short (nothing here checks hashing)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def donor_from_fixture(donor):
    from donors.models import Donor

    return Donor.objects.select_related("recipient", "centre").get(pk=donor.pk)


# ---------------------------------------------------------------- content


def test_content_shows_all_six_classifications_with_their_rules_and_missing_checks_as_missing(
    centre, staff, media, eager_tasks, django_capture_on_commit_callbacks
):
    donor = DonorFactory(centre=centre, code="D-BARE")
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks, document=preset_document("rphd_into_lhd"))
    content = report_content(donor_from_fixture(donor))

    systems = {s["system"]: s for s in content["biliary"]["systems"]}
    assert list(systems) == ["proposed", "couinaud", "huang", "choi", "karakas", "ohkubo"]
    assert {k: v["type"] for k, v in systems.items()} == {
        "proposed": "2",
        "couinaud": "D1",
        "huang": "3",
        "choi": "3A",
        "karakas": "K3b",
        "ohkubo": "D",
    }
    assert all(s["rule"] for s in systems.values())
    assert "RPHD drains into LHD" in systems["huang"]["rule"]
    assert systems["karakas"]["provisional"] and systems["ohkubo"]["provisional"]
    assert content["biliary"]["diagram_svg"].startswith("<svg")
    assert content["biliary"]["mip"] is None
    assert content["prediction"]["anastomoses"] == 2 and content["prediction"]["local_cases"] == 0
    assert content["versions"] == content["versions"] | {
        "rules_version": "2024.2",
        "annotation_revision": 1,
        "annotation_state": "final",
        "report_version": None,
    }
    checks = {c["check"]: c for c in content["checks"]}
    for key in ("grwr", "remnant", "apri", "fib4", "portal_vein", "hepatic_artery", "psychosocial"):
        assert checks[key]["state"] == "missing" and checks[key]["value"] is None, key
    assert checks["biliary"]["state"] == "borderline" and checks["biliary"]["value"] == "2"
    assert content["decision"] is None and content["conclusion"]["state"] == "none"

    page = browser(staff["surgeon"]).get(f"/reports/donors/{donor.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    for label in SYSTEM_LABELS:
        assert label in html
    assert "RPHD drains into LHD (left system) -&gt; Huang 3" in html
    assert 'data-check="grwr"><td>Graft-to-recipient weight ratio</td><td><span class="mark mark-missing"' in html
    assert 'data-check="grwr"><td>Graft-to-recipient weight ratio</td><td><span class="mark mark-pass"' not in html
    assert "No MRCP image" in html and "No laboratory results recorded" in html


def test_a_draft_anatomy_leaves_the_biliary_check_missing(
    centre, staff, media, eager_tasks, django_capture_on_commit_callbacks
):
    donor = DonorFactory(centre=centre)
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks, final=False)
    content = report_content(donor_from_fixture(donor))
    biliary = next(c for c in content["checks"] if c["check"] == "biliary")
    assert biliary["state"] == "missing" and "draft" in biliary["detail"]
    assert "not final" in content["conclusion"]["text"]


def test_the_report_page_of_a_worked_up_donor(centre, staff, media, eager_tasks, django_capture_on_commit_callbacks):
    donor = worked_up_donor(centre, staff, django_capture_on_commit_callbacks)
    content = report_content(donor_from_fixture(donor))
    assert content["identity"]["recipient"]["code"] == "R-D-REPORT"
    assert content["demographics"]["bmi"] == 22.8 and content["demographics"]["bsa_m2"] == 1.69
    assert content["abo"]["compatibility"] == "compatible"
    assert content["volumetry"]["grwr"]["value"] == 1.29 and content["volumetry"]["grwr"]["state"] == "pass"
    assert content["steatosis"]["deciding_modality"] == "mri_pdff"
    assert content["vascular"]["portal_vein"]["type"] == "A"
    assert content["labs"]["apri"]["state"] == "pass"
    assert content["counts"]["missing"] == 0 and content["counts"]["fail"] == 0
    assert content["decision"]["complete"] and [s["by"] for s in content["decision"]["sign_offs"]] == [
        "Radiologist Tester",
        "Hepatologist Tester",
        "Surgeon Tester",
    ]
    assert content["conclusion"]["state"] == "suitable"
    assert content["biliary"]["mip"]["series_number"] == 5

    surgeon = browser(staff["surgeon"])
    html = surgeon.get(f"/reports/donors/{donor.pk}/").content.decode()
    assert f'src="/reports/donors/{donor.pk}/mip.png"' in html
    assert "<svg" in html and "Sign-offs" in html and "Surgeon Tester" in html
    assert "1.69 m² (Mosteller)" in html
    mip = surgeon.get(f"/reports/donors/{donor.pk}/mip.png")
    assert mip.status_code == 200 and mip["Content-Type"] == "image/png" and mip.content == png_bytes()
    read = AuditEvent.objects.filter(kind="read", donor_id=donor.pk, summary="viewed suitability report")
    assert read.count() == 1 and read.get().user == staff["surgeon"]


def test_report_content_takes_a_constant_number_of_queries(
    centre, staff, media, eager_tasks, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    small = worked_up_donor(centre, staff, django_capture_on_commit_callbacks, code="D-SMALL")
    big = worked_up_donor(centre, staff, django_capture_on_commit_callbacks, code="D-BIG", labs_records=6)
    # More records and more runs (three revisions of the anatomy) for the big donor.
    annotation = Annotation.objects.get(donor=big)
    for rhd in (4.0, 9.0):
        annotation.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            classification_services.save_annotation(
                actor=actor(staff["radiologist"]), donor=big, document=typical(rhd), expected_version=annotation.version
            )
    annotation.refresh_from_db()
    classification_services.finalise_annotation(
        actor=actor(staff["radiologist"]), annotation=annotation, expected_version=annotation.version
    )
    assert annotation.runs.count() == 3

    counts = []
    for donor in (small, big):
        donor = donor_from_fixture(donor)
        with CaptureQueriesContext(connection) as captured:
            report_content(donor)
        counts.append(len(captured))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(25):
        report_content(donor_from_fixture(big))


# ---------------------------------------------------------------- issuing


def issue_api(user, donor, capture):
    with capture(execute=True):
        return api(user).post(f"/api/v1/donors/{donor.pk}/report/issue/")


def test_issued_versions_never_change_and_a_reissue_makes_version_two(
    centre, staff, media, eager_tasks, django_capture_on_commit_callbacks
):
    donor = worked_up_donor(centre, staff, django_capture_on_commit_callbacks)
    response = issue_api(staff["surgeon"], donor, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    body = response.json()
    # Answered before the worker ran; the PDF is ready once the task has run.
    assert body["number"] == 1 and body["pdf_state"] == "pending" and body["pdf_url"] is None
    version = ReportVersion.objects.get(pk=body["id"])
    assert version.pdf_state == "ready"
    assert api(staff["surgeon"]).get(f"/api/v1/reports/{version.pk}/").json()["pdf_url"] == (
        f"/api/v1/reports/{version.pk}/pdf/"
    )
    frozen, sha = version.content, version.content_sha256
    pdf_bytes = version.pdf.open("rb").read()
    assert version.mip_path and default_storage.open(version.mip_path).read() == png_bytes()
    text = pdf_text(pdf_bytes)
    assert "D-REPORT" in text
    assert "Proposed type" in text and "Predicted anastomoses" in text
    flat = " ".join(text.split())
    assert re.search(r"Proposed type 1 suitable \(safe donor\)", flat), flat
    assert re.search(r"Predicted anastomoses 1 Technique end-to-end", flat), flat
    assert "version 1" in text

    # The donor changes afterwards: weight, a new lab result, the anatomy reopened and changed.
    donor_services.update_donor(
        actor=actor(staff["coordinator"]),
        donor=donor,
        expected_version=donor.version,
        values={"weight_kg": Decimal("80.0")},
    )
    annotation = Annotation.objects.get(donor=donor)
    with django_capture_on_commit_callbacks(execute=True):
        classification_services.save_annotation(
            actor=actor(staff["radiologist"]), donor=donor, document=typical(4.0), expected_version=annotation.version
        )
    # Re-running the render is a no-op; the stored content and PDF are byte-identical.
    from reports.tasks import render_report_pdf_task

    assert render_report_pdf_task.delay(version.pk).get() is False
    version.refresh_from_db()
    assert version.content == frozen and version.content_sha256 == sha
    assert version.pdf.open("rb").read() == pdf_bytes
    detail = api(staff["radiologist"]).get(f"/api/v1/reports/{version.pk}/").json()
    assert detail["content"] == frozen and detail["content_sha256"] == sha
    with pytest.raises(PermissionError):
        version.content = {"tampered": True}
        version.save()

    # Issuing again is refused while the changed anatomy is a draft, then makes version 2.
    refused = issue_api(staff["hepatologist"], donor, django_capture_on_commit_callbacks)
    assert refused.status_code == 409 and "draft" in refused.json()["error"]["message"]
    annotation.refresh_from_db()
    classification_services.finalise_annotation(
        actor=actor(staff["radiologist"]), annotation=annotation, expected_version=annotation.version
    )
    second = issue_api(staff["hepatologist"], donor, django_capture_on_commit_callbacks)
    assert second.status_code == 201 and second.json()["number"] == 2
    v2 = ReportVersion.objects.get(pk=second.json()["id"])
    assert v2.content["demographics"]["weight_kg"] == 80.0 and v2.annotation_revision == 2
    assert v2.content["biliary"]["proposed"]["type"] == "2"
    assert ReportVersion.objects.get(pk=version.pk).content == frozen
    assert AuditEvent.objects.filter(kind="create", record_type="reports.ReportVersion", donor_id=donor.pk).count() == 2


@pytest.mark.parametrize("state", ["none", "draft"])
def test_issuing_is_refused_while_the_anatomy_is_not_final(
    centre, staff, media, eager_tasks, state, django_capture_on_commit_callbacks
):
    donor = DonorFactory(centre=centre)
    if state == "draft":
        annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks, final=False)
    response = issue_api(staff["surgeon"], donor, django_capture_on_commit_callbacks)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_state" and error["message"].startswith("cannot issue the report")
    assert ("draft" if state == "draft" else "no biliary anatomy") in error["message"]
    assert "annotation" in error["fields"]
    assert not ReportVersion.objects.exists()
    page = browser(staff["surgeon"]).post(f"/reports/donors/{donor.pk}/issue/")
    assert page.status_code == 409 and "cannot issue the report" in page.content.decode()


def test_the_pdf_page_link_downloads_and_every_download_is_audited(
    centre, staff, media, eager_tasks, django_capture_on_commit_callbacks
):
    donor = worked_up_donor(centre, staff, django_capture_on_commit_callbacks, with_mip=False, decision=False)
    surgeon = browser(staff["surgeon"])
    with django_capture_on_commit_callbacks(execute=True):
        response = surgeon.post(f"/reports/donors/{donor.pk}/issue/")
    version = ReportVersion.objects.get(donor=donor)
    assert response.status_code == 302 and response["Location"] == f"/reports/versions/{version.pk}/"
    page = surgeon.get(response["Location"]).content.decode()
    assert "Issued report, <strong>version 1</strong>" in page and "Download the PDF" in page
    download = surgeon.get(f"/reports/versions/{version.pk}/pdf/")
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert "attachment" in download["Content-Disposition"] and "D-REPORT-v1.pdf" in download["Content-Disposition"]
    body = b"".join(download.streaming_content)
    assert body.startswith(b"%PDF")
    via_api = api(staff["coordinator"]).get(f"/api/v1/reports/{version.pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert via_api.status_code == 200 and b"".join(via_api.streaming_content) == body
    events = AuditEvent.objects.filter(kind="download", record_type="reports.ReportVersion", record_id=str(version.pk))
    assert sorted((e.user.username, e.channel) for e in events) == [("coordinator-r", "api"), ("surgeon-r", "download")]
    assert all(e.donor_id == donor.pk for e in events)


def test_a_pdf_not_ready_is_a_409(centre, staff, media, eager_tasks, django_capture_on_commit_callbacks):
    donor = DonorFactory(centre=centre)
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    version = issue_report(actor=actor(staff["surgeon"]), donor=donor)  # on_commit not run: still pending
    response = api(staff["surgeon"]).get(f"/api/v1/reports/{version.pk}/pdf/")
    assert response.status_code == 409 and "being rendered" in response.json()["error"]["message"]
    assert not AuditEvent.objects.filter(kind="download").exists()


def test_the_pdf_renderer_fetches_nothing_from_outside():
    fetcher = report_pdf.LocalOnlyFetcher()
    html = (
        '<html><body><p>x</p><img src="http://127.0.0.1:9/x.png"><img src="https://example.org/y.png">'
        '<img src="file:///etc/passwd"><img src="data:image/png;base64,'
        + __import__("base64").b64encode(png_bytes()).decode()
        + '"></body></html>'
    )
    data = report_pdf.html_to_pdf(html, fetcher=fetcher)
    assert data.startswith(b"%PDF")
    assert fetcher.refused == ["http://127.0.0.1:9/x.png", "https://example.org/y.png", "file:///etc/passwd"]


# ---------------------------------------------------------------- permissions

ENDPOINTS = [
    "api-report",
    "api-issue",
    "api-version",
    "api-pdf",
    "page-report",
    "page-issue",
    "page-version",
    "page-pdf",
    "page-mip",
    "page-version-mip",
]


def call(user, endpoint, donor, version):
    client = api(user) if endpoint.startswith("api") else browser(user)
    paths = {
        "api-report": ("get", f"/api/v1/donors/{donor.pk}/report/"),
        "api-issue": ("post", f"/api/v1/donors/{donor.pk}/report/issue/"),
        "api-version": ("get", f"/api/v1/reports/{version.pk}/"),
        "api-pdf": ("get", f"/api/v1/reports/{version.pk}/pdf/"),
        "page-report": ("get", f"/reports/donors/{donor.pk}/"),
        "page-issue": ("post", f"/reports/donors/{donor.pk}/issue/"),
        "page-version": ("get", f"/reports/versions/{version.pk}/"),
        "page-pdf": ("get", f"/reports/versions/{version.pk}/pdf/"),
        "page-mip": ("get", f"/reports/donors/{donor.pk}/mip.png"),
        "page-version-mip": ("get", f"/reports/versions/{version.pk}/mip.png"),
    }
    method, path = paths[endpoint]
    return getattr(client, method)(path)


_SMALL_PDF: list[bytes] = []


def small_pdf(content, *, mip_png=None) -> bytes:
    """A real but tiny PDF, made once: the permission tests do not need the report's own."""
    if not _SMALL_PDF:
        _SMALL_PDF.append(report_pdf.html_to_pdf("<p>report</p>"))
    return _SMALL_PDF[0]


@pytest.fixture
def issued(centre, staff, media, eager_tasks, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(report_pdf, "render_report_pdf", small_pdf)
    donor = DonorFactory(centre=centre, code="D-PERM")
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    add_mip(donor)
    with django_capture_on_commit_callbacks(execute=True):
        version = issue_report(actor=actor(staff["surgeon"]), donor=donor)
    version.refresh_from_db()
    assert version.pdf_state == "ready"
    return donor, version


EXPECTED = {
    # role: (read endpoints, issue endpoints)
    "coordinator": (200, 403),
    "radiologist": (200, 403),
    "hepatologist": (200, 201),
    "surgeon": (200, 201),
    "auditor": (403, 403),
    "integration_client": (403, 403),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", list(EXPECTED))
def test_every_report_endpoint_checks_the_role(issued, staff, role, endpoint, django_capture_on_commit_callbacks):
    donor, version = issued
    with django_capture_on_commit_callbacks(execute=True):
        response = call(staff[role], endpoint, donor, version)
    read, issue = EXPECTED[role]
    expected = issue if "issue" in endpoint else read
    if role == "integration_client" and endpoint in ("api-version", "api-pdf"):
        expected = 200  # a hospital system files the issued version; the live report and the pages stay clinical
    if endpoint == "page-issue" and expected == 201:
        expected = 302
    assert response.status_code == expected, (role, endpoint, response.status_code)
    if endpoint.startswith("api") and expected >= 400:
        assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_another_centres_reports_are_not_found_and_the_attempt_audited(
    issued, make_user, other_centre, endpoint, django_capture_on_commit_callbacks
):
    donor, version = issued
    stranger = make_user("surgeon", centre_obj=other_centre, username="stranger")
    response = call(stranger, endpoint, donor, version)
    assert response.status_code == 404, (endpoint, response.status_code)
    assert AuditEvent.objects.filter(kind="denied", user=stranger).count() == 1
    assert not AuditEvent.objects.filter(kind__in=["read", "download"], user=stranger).exists()
    assert ReportVersion.objects.filter(donor=donor).count() == 1


def test_report_reads_are_audited_on_every_channel(issued, staff):
    donor, version = issued
    api(staff["radiologist"]).get(f"/api/v1/donors/{donor.pk}/report/")
    api(staff["radiologist"]).get(f"/api/v1/reports/{version.pk}/")
    browser(staff["radiologist"]).get(f"/reports/versions/{version.pk}/")
    events = AuditEvent.objects.filter(kind="read", user=staff["radiologist"], donor_id=donor.pk)
    assert sorted(e.summary for e in events) == sorted(
        [
            "viewed suitability report",
            "viewed issued suitability report version 1",
            "viewed issued suitability report version 1",
        ]
    )


def test_the_issued_version_page_keeps_the_issued_mip(issued, staff):
    donor, version = issued
    client = browser(staff["surgeon"])
    html = client.get(f"/reports/versions/{version.pk}/").content.decode()
    assert f'src="/reports/versions/{version.pk}/mip.png"' in html
    assert client.get(f"/reports/versions/{version.pk}/mip.png").content == png_bytes()


def test_the_donor_page_links_the_report(issued, staff):
    donor, version = issued
    html = browser(staff["coordinator"]).get(f"/donors/{donor.pk}/").content.decode()
    assert f'href="/reports/donors/{donor.pk}/"' in html and f'href="/reports/versions/{version.pk}/pdf/"' in html


# ---------------------------------------------------------------- the real worker


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_renders_the_issued_pdf(celery_worker, centre, make_user):
    radiologist, surgeon = make_user("radiologist"), make_user("surgeon")
    donor = DonorFactory(centre=centre, code="D-WORKER")
    annotation = classification_services.save_annotation(actor=actor(radiologist), donor=donor, document=typical())
    deadline = time.monotonic() + 60
    while annotation.classification != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
        annotation.refresh_from_db()
    assert annotation.classification == "done"
    classification_services.finalise_annotation(
        actor=actor(radiologist), annotation=annotation, expected_version=annotation.version
    )
    version = issue_report(actor=actor(surgeon), donor=donor)
    try:
        deadline = time.monotonic() + 90
        while version.pdf_state == "pending" and time.monotonic() < deadline:
            time.sleep(0.3)
            version.refresh_from_db()
        assert version.pdf_state == "ready", version.pdf_error
        assert version.pdf_attempts == 1
        text = pdf_text(version.pdf.open("rb").read())
        assert "D-WORKER" in text and "Predicted anastomoses" in text
        assert (
            AuditEvent.objects.filter(
                record_type="reports.ReportVersion.pdf", channel="worker", donor_id=donor.pk
            ).count()
            == 1
        )
    finally:
        import os

        if version.pdf:
            folder = os.path.dirname(default_storage.path(version.pdf.name))
            default_storage.delete(version.pdf.name)
            for empty in (folder, os.path.dirname(folder)):
                try:
                    os.rmdir(empty)
                except OSError:
                    break


def test_the_biliary_type_answers_only_for_a_final_anatomy(
    centre, staff, media, eager_tasks, django_capture_on_commit_callbacks, monkeypatch
):
    from classification.selectors import final_proposed_type
    from workup import selectors as workup_selectors

    donor = DonorFactory(centre=centre)
    assert final_proposed_type(donor) is None
    annotation = annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks, final=False)
    assert final_proposed_type(donor) is None
    classification_services.finalise_annotation(
        actor=actor(staff["radiologist"]), annotation=annotation, expected_version=annotation.version
    )
    assert final_proposed_type(donor) == "1"
    # The workup checklist reads the classification app's selector, so it sees the same type as the report.
    assert workup_selectors.evaluate(donor).biliary_type == "1"
    checks = {c["check"]: c for c in report_content(donor_from_fixture(donor))["checks"]}
    assert checks["biliary"]["state"] == "pass"
