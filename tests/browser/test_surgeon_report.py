"""A surgeon opens a donor's suitability report, sees the duct diagram and the MIP, issues the
report and downloads its PDF."""

import subprocess

import pytest

from reports.models import ReportVersion
from tests.integration.test_reports import worked_up_donor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class _NoCapture:
    """Outside a test transaction the services' on-commit callbacks run by themselves."""

    def __call__(self, execute=True):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_surgeon_opens_the_report_sees_the_diagram_and_downloads_the_pdf(
    page, live_server, login, make_user, centre, settings, tmp_path, eager_tasks
):
    settings.MEDIA_ROOT = tmp_path
    staff = {
        role: make_user(role, username=f"{role}-b", first_name=role.capitalize(), last_name="Browser")
        for role in ("coordinator", "radiologist", "hepatologist", "surgeon")
    }
    donor = worked_up_donor(centre, staff, _NoCapture(), code="BR-REPORT")

    login("surgeon-b")
    page.goto(f"{live_server.url}/donors/{donor.pk}/")
    page.click("[data-testid=open-report]")
    page.wait_for_url(f"**/reports/donors/{donor.pk}/")
    assert page.inner_text("[data-testid=donor-code]") == "BR-REPORT"
    diagram = page.locator("[data-testid=diagram] svg")
    assert diagram.is_visible()
    box = diagram.bounding_box()
    assert box["width"] > 200 and box["height"] > 200
    assert "RHD" in diagram.text_content()
    mip = page.locator("[data-testid=mip] img")
    assert mip.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.inner_text("[data-testid=proposed-type]") == "1"
    assert page.inner_text("[data-testid=predicted-anastomoses]") == "1"
    assert page.locator("[data-testid=classifications] tbody tr").count() == 6
    assert "Surgeon Browser" in page.inner_text("[data-testid=sign-offs]")

    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))  # issuing asks first
    page.click("[data-testid=issue-report]")
    page.wait_for_url("**/reports/versions/*/")
    assert "version 1" in page.inner_text(".issued-banner")
    assert questions and questions[0].startswith("Issue version 1 of the suitability report of BR-REPORT?")
    with page.expect_download() as info:
        page.click("[data-testid=download-pdf]")
    download = info.value
    assert download.suggested_filename == "suitability-report-BR-REPORT-v1.pdf"
    path = tmp_path / "downloaded.pdf"
    download.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    version = ReportVersion.objects.get(donor=donor)
    assert data == version.pdf.open("rb").read()
    text = subprocess.run(["/usr/bin/pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode()
    assert "BR-REPORT" in text and "Predicted anastomoses" in text
    from core.models import AuditEvent

    assert (
        AuditEvent.objects.filter(kind="download", record_id=str(version.pk), user__username="surgeon-b").count() == 1
    )


def test_a_report_cannot_be_issued_while_a_series_of_another_patient_is_unresolved(
    browser, page, live_server, login, make_user, centre, settings, tmp_path, eager_tasks
):
    from core.audit import Actor
    from imaging import jobs as imaging_jobs
    from imaging import services as imaging_services
    from imaging.models import Study
    from tests.integration.imaging_support import phantom

    settings.MEDIA_ROOT = tmp_path
    staff = {
        role: make_user(role, username=f"{role}-b", first_name=role.capitalize(), last_name="Browser")
        for role in ("coordinator", "radiologist", "hepatologist", "surgeon")
    }
    donor = worked_up_donor(centre, staff, _NoCapture(), code="BR-WRONG", with_mip=False)
    wrong = phantom(tmp_path / "wrong", slices=6, size=32, patient_id="MRN555555", patient_name="Wrong^Patient")
    upload = imaging_services.create_upload(
        actor=Actor(user=staff["coordinator"]),
        donor=donor,
        files=[imaging_services.Incoming(p.name, p.stat().st_size, p) for p in wrong.paths],
    )
    imaging_jobs.ingest_upload(upload_id=upload.pk)  # already run on commit; a second call does nothing
    study = Study.objects.get(donor=donor)
    assert study.identity_state == "unresolved" and study.series.get().mip_path

    login("surgeon-b")
    page.on("dialog", lambda dialog: dialog.accept())  # issuing a report asks first
    page.goto(f"{live_server.url}/reports/donors/{donor.pk}/")
    blockers = page.inner_text("[data-testid=identity-blockers]")
    assert "MRN555555" in blockers and "a radiologist must confirm" in blockers
    assert page.locator("[data-testid=mip] img").count() == 0  # the other patient's MIP is not shown
    page.click("[data-testid=issue-report]")
    error = page.inner_text("[data-testid=issue-error]")
    assert error.startswith("cannot issue the report") and "MRN555555" in error
    assert not ReportVersion.objects.filter(donor=donor).exists()

    # The radiologist detaches the study from the donor's page, giving the reason.
    radiologist = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    radiologist.on("dialog", lambda dialog: dialog.accept())  # detaching asks first
    radiologist.goto(f"{live_server.url}/accounts/login/")
    radiologist.fill("#id_username", "radiologist-b")
    radiologist.fill("#id_password", "correct-horse-battery")
    radiologist.click("button[type=submit]")
    radiologist.goto(f"{live_server.url}/donors/{donor.pk}/")
    assert "MRN555555" in radiologist.inner_text("[data-testid=identity-warning]")
    radiologist.click("[data-testid=detach-study]")  # the reason is required: the form is not sent
    assert Study.objects.get(pk=study.pk).donor_id == donor.pk
    radiologist.fill("[data-testid=detach-reason]", "another patient's MRCP, sent by mistake")
    radiologist.click("[data-testid=detach-study]")
    radiologist.wait_for_url(f"**/donors/{donor.pk}/")
    assert radiologist.locator("[data-testid=identity-warning]").count() == 0
    radiologist.goto(f"{live_server.url}/imaging/studies/unmatched/")
    assert "MRN555555" in radiologist.inner_text("[data-testid=unmatched-study]")
    radiologist.context.close()

    page.goto(f"{live_server.url}/reports/donors/{donor.pk}/")
    assert page.locator("[data-testid=identity-blockers]").count() == 0
    page.click("[data-testid=issue-report]")
    page.wait_for_url("**/reports/versions/*/")
    version = ReportVersion.objects.get(donor=donor)
    assert version.mip_path == "" and version.content["biliary"]["mip"] is None
