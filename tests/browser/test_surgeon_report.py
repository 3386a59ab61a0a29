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
        page, live_server, login, make_user, centre, settings, tmp_path, eager_tasks):
    settings.MEDIA_ROOT = tmp_path
    staff = {role: make_user(role, username=f"{role}-b", first_name=role.capitalize(), last_name="Browser")
             for role in ("coordinator", "radiologist", "hepatologist", "surgeon")}
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

    page.click("[data-testid=issue-report]")
    page.wait_for_url("**/reports/versions/*/")
    assert "version 1" in page.inner_text(".issued-banner")
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
    from donors.models import AuditEvent

    assert AuditEvent.objects.filter(kind="download", record_id=str(version.pk), user__username="surgeon-b").count() == 1
