"""Sending to the centre's PACS (Orthanc, Debian's) from the pages: an issued report by a hepatologist, a final
anatomy by the radiologist; each sees what was stored."""

import pytest

from reports import pdf as report_pdf
from reports import services as report_services
from tests.browser.test_surgeon_report import _NoCapture
from tests.integration.orthanc_support import Orthanc, needs_orthanc
from tests.integration.test_report_to_pacs import final_anatomy_on_mrcp, issue_with_mrcp
from tests.integration.test_reports import actor, small_pdf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), needs_orthanc]


def test_send_to_pacs_from_the_report_page_shows_what_was_stored(
    page, live_server, login, make_user, centre, settings, tmp_path, eager_tasks, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(report_pdf, "render_report_pdf", small_pdf)
    staff = {
        role: make_user(role, username=f"{role}-p", first_name=role.capitalize(), last_name="Browser")
        for role in ("radiologist", "hepatologist", "surgeon")
    }
    issued = issue_with_mrcp(centre, staff, _NoCapture(), tmp_path / "mrcp", code="BR-PACS", mrn="MRN-BR-PACS")
    folder = tmp_path / "pacs"
    folder.mkdir()
    pacs = Orthanc(folder, ae_title="WARDPACS")
    try:
        report_services.set_pacs_destination(
            actor=actor(staff["surgeon"]), centre=centre, ae_title="WARDPACS", host="127.0.0.1", port=pacs.dicom_port
        )
        login("hepatologist-p")
        page.goto(f"{live_server.url}/reports/versions/{issued['version'].pk}/")
        button = page.locator("[data-testid=send-to-pacs]")
        assert "WARDPACS" in button.inner_text()
        button.click()
        page.wait_for_url("**#pacs")
        row = page.locator("[data-testid=pacs-sends] tbody tr").first
        assert row.get_attribute("data-state") == "sent"
        text = row.inner_text()
        assert "Sent" in text and "structured report and PDF stored in study " + issued["study_uid"] in text
        assert "Hepatologist Browser" in text
        stored = pacs.post("/tools/find", {"Level": "Instance", "Query": {"PatientID": "MRN-BR-PACS"}}).json()
        assert len(stored) == 2
    finally:
        pacs.stop()


def test_send_the_final_anatomy_to_pacs_from_the_anatomy_page_before_any_report(
    page, live_server, login, make_user, centre, settings, tmp_path, eager_tasks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    staff = {
        role: make_user(role, username=f"{role}-a", first_name=role.capitalize(), last_name="Browser")
        for role in ("radiologist", "surgeon")
    }
    read = final_anatomy_on_mrcp(centre, staff, _NoCapture(), tmp_path / "mrcp", code="BR-ANAT", mrn="MRN-BR-ANAT")
    folder = tmp_path / "pacs"
    folder.mkdir()
    pacs = Orthanc(folder, ae_title="WARDPACS")
    try:
        report_services.set_pacs_destination(
            actor=actor(staff["surgeon"]), centre=centre, ae_title="WARDPACS", host="127.0.0.1", port=pacs.dicom_port
        )
        login("radiologist-a")
        page.goto(f"{live_server.url}/anatomy/donors/{read['donor'].pk}/")
        button = page.locator("[data-testid=send-anatomy-to-pacs]")
        assert "WARDPACS" in button.inner_text()
        button.click()
        page.wait_for_url("**#pacs")
        row = page.locator("[data-testid=anatomy-pacs-sends] tbody tr").first
        assert row.get_attribute("data-state") == "sent"
        text = row.inner_text()
        assert "Sent" in text and "structured report stored in study " + read["study_uid"] in text
        assert "Radiologist Browser" in text
        (stored,) = pacs.post("/tools/find", {"Level": "Instance", "Query": {"PatientID": "MRN-BR-ANAT"}}).json()
        assert pacs.get(f"/instances/{stored}/simplified-tags").json()["Modality"] == "SR"
    finally:
        pacs.stop()
