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


@pytest.fixture
def ward_pacs(tmp_path):
    """A private Orthanc process as the centre's PACS."""
    folder = tmp_path / "pacs"
    folder.mkdir()
    pacs = Orthanc(folder, ae_title="WARDPACS")
    yield pacs
    pacs.stop()


def send_from_page(page, url: str, *, button_id: str, sends_id: str, pacs: Orthanc, centre, surgeon):
    """Make the PACS the centre's destination, press the page's send button and return the newest send's row."""
    report_services.set_pacs_destination(
        actor=actor(surgeon), centre=centre, ae_title="WARDPACS", host="127.0.0.1", port=pacs.dicom_port
    )
    page.goto(url)
    button = page.locator(f"[data-testid={button_id}]")
    assert "WARDPACS" in button.inner_text()
    button.click()
    page.wait_for_url("**#pacs")
    return page.locator(f"[data-testid={sends_id}] tbody tr").first


def test_send_to_pacs_from_the_report_page_shows_what_was_stored(
    page, live_server, login, make_user, centre, settings, tmp_path, eager_tasks, monkeypatch, ward_pacs
):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(report_pdf, "render_report_pdf", small_pdf)
    staff = {
        role: make_user(role, username=f"{role}-p", first_name=role.capitalize(), last_name="Browser")
        for role in ("radiologist", "hepatologist", "surgeon")
    }
    issued = issue_with_mrcp(centre, staff, _NoCapture(), tmp_path / "mrcp", code="BR-PACS", mrn="MRN-BR-PACS")
    login("hepatologist-p")
    row = send_from_page(
        page,
        f"{live_server.url}/reports/versions/{issued['version'].pk}/",
        button_id="send-to-pacs",
        sends_id="pacs-sends",
        pacs=ward_pacs,
        centre=centre,
        surgeon=staff["surgeon"],
    )
    assert row.get_attribute("data-state") == "sent"
    text = row.inner_text()
    assert "Sent" in text and "structured report and PDF stored in study " + issued["study_uid"] in text
    assert "Hepatologist Browser" in text
    stored = ward_pacs.post("/tools/find", {"Level": "Instance", "Query": {"PatientID": "MRN-BR-PACS"}}).json()
    assert len(stored) == 2


def test_send_the_final_anatomy_to_pacs_from_the_anatomy_page_before_any_report(
    page, live_server, login, make_user, centre, settings, tmp_path, eager_tasks, ward_pacs
):
    settings.MEDIA_ROOT = tmp_path / "media"
    staff = {
        role: make_user(role, username=f"{role}-a", first_name=role.capitalize(), last_name="Browser")
        for role in ("radiologist", "surgeon")
    }
    read = final_anatomy_on_mrcp(centre, staff, _NoCapture(), tmp_path / "mrcp", code="BR-ANAT", mrn="MRN-BR-ANAT")
    login("radiologist-a")
    row = send_from_page(
        page,
        f"{live_server.url}/anatomy/donors/{read['donor'].pk}/",
        button_id="send-anatomy-to-pacs",
        sends_id="anatomy-pacs-sends",
        pacs=ward_pacs,
        centre=centre,
        surgeon=staff["surgeon"],
    )
    assert row.get_attribute("data-state") == "sent"
    text = row.inner_text()
    assert "Sent" in text and "structured report stored in study " + read["study_uid"] in text
    assert "Radiologist Browser" in text
    (stored,) = ward_pacs.post("/tools/find", {"Level": "Instance", "Query": {"PatientID": "MRN-BR-ANAT"}}).json()
    assert ward_pacs.get(f"/instances/{stored}/simplified-tags").json()["Modality"] == "SR"
