"""Every role starts the day on its worklist: it logs in, lands on the list, follows a row to where
the work is done, does it, and sees the row leave the list."""

import datetime

import pytest

from classification.models import Annotation
from core.audit import Actor
from core.services import record_login_lockout
from donors.models import Donor
from donors.services import record_refused_access
from imaging.models import Study
from tests.factories import DonorFactory, UserFactory
from workup import services as workup_services
from workup.models import LabResult

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def accept_confirmations(page):
    """Irreversible actions may ask for confirmation: the user says yes."""
    page.on("dialog", lambda dialog: dialog.accept())


def count(page, role, section):
    return int(page.inner_text(f"[data-testid=count-{role}-{section}]"))


def rows(page, role, section):
    return page.locator(f"[data-role={role}] [data-section={section}] tbody tr")


def open_worklist(page):
    page.click("header nav a:has-text('Worklist')")
    page.wait_for_url("**/donors/worklist/")


def test_coordinator_moves_a_new_candidate_into_evaluation_from_the_worklist(
    page, live_server, login, make_user, centre
):
    make_user("coordinator", username="coord")
    donor = DonorFactory(centre=centre, code="BR-NEW")
    login("coord")
    assert page.url.endswith("/donors/worklist/")
    assert count(page, "coordinator", "new_candidates") == 1
    assert count(page, "coordinator", "missing_items") == 0

    rows(page, "coordinator", "new_candidates").filter(has_text="BR-NEW").locator("a").click()
    page.wait_for_url(f"**/donors/{donor.pk}/#status")
    page.select_option("#id_to_status", "in_evaluation")
    page.fill("#id_reason", "consent signed")
    page.click("button:has-text('Change status')")
    page.wait_for_url(f"**/donors/{donor.pk}/")

    open_worklist(page)
    assert count(page, "coordinator", "new_candidates") == 0
    assert "No new candidate is waiting." in page.inner_text("[data-section=new_candidates]")
    assert count(page, "coordinator", "missing_items") == 1
    assert rows(page, "coordinator", "missing_items").count() == 1
    assert Donor.objects.get(pk=donor.pk).status == "in_evaluation"


def test_radiologist_reads_a_received_study_and_marks_the_anatomy_final(
    page, live_server, login, make_user, centre, eager_tasks
):
    make_user("radiologist", username="rad")
    donor = DonorFactory(centre=centre, code="BR-STUDY", status="in_evaluation")
    Study.objects.create(centre=centre, donor=donor, study_instance_uid="1.2.840.7", description="MRCP 3D")
    login("rad")
    assert page.url.endswith("/donors/worklist/")
    assert count(page, "radiologist", "unread_studies") == 1
    assert count(page, "radiologist", "draft_anatomies") == 0

    rows(page, "radiologist", "unread_studies").filter(has_text="BR-STUDY").locator("a").click()
    page.wait_for_url(f"**/anatomy/donors/{donor.pk}/")
    page.select_option("#preset", "typical_right_lobe")
    page.click("#load-preset")
    page.locator("[data-testid=proposed-type]").filter(has_text="1").wait_for()
    page.click("button:has-text('Save anatomy')")
    page.wait_for_load_state("networkidle")

    open_worklist(page)
    assert count(page, "radiologist", "unread_studies") == 0
    assert count(page, "radiologist", "draft_anatomies") == 1
    rows(page, "radiologist", "draft_anatomies").filter(has_text="BR-STUDY").locator("a").click()
    page.wait_for_url(f"**/anatomy/donors/{donor.pk}/")
    page.click("button:has-text('Mark final')")
    page.wait_for_load_state("networkidle")
    assert Annotation.objects.get(donor=donor).state == "final"

    open_worklist(page)
    assert count(page, "radiologist", "draft_anatomies") == 0
    assert "No anatomy is in draft." in page.inner_text("[data-section=draft_anatomies]")


def test_hepatologist_records_missing_labs_from_the_worklist(page, live_server, login, make_user, centre):
    today = datetime.date.today()
    make_user("hepatologist", username="hep")
    donor = DonorFactory(
        centre=centre, code="BR-LABS", status="in_evaluation", date_of_birth=datetime.date(today.year - 40, 1, 1)
    )
    login("hep")
    assert page.url.endswith("/donors/worklist/")
    assert count(page, "hepatologist", "labs_missing") == 1
    assert "missing: laboratory results" in rows(page, "hepatologist", "labs_missing").first.inner_text()

    rows(page, "hepatologist", "labs_missing").filter(has_text="BR-LABS").locator("a").click()
    page.wait_for_url(f"**/donors/{donor.pk}/workup/#labs")
    form = page.locator("form[data-form=labs]")
    form.locator("#id_labs-ast").fill("22")
    form.locator("#id_labs-ast_uln").fill("40")
    form.locator("#id_labs-alt").fill("25")
    form.locator("#id_labs-alt_uln").fill("41")
    form.locator("#id_labs-platelets").fill("240")
    form.locator("#id_labs-serology").fill("HBsAg, anti-HCV, HIV negative")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/donors/{donor.pk}/workup/#labs")
    assert LabResult.objects.filter(donor=donor).count() == 1

    open_worklist(page)
    assert count(page, "hepatologist", "labs_missing") == 0
    assert count(page, "hepatologist", "labs_out_of_date") == 0


def test_surgeon_signs_the_waiting_decision_and_the_donor_moves_to_the_operation_list(
    page, live_server, login, make_user, centre
):
    surgeon = make_user("surgeon", username="cutter")
    coordinator = make_user("coordinator", username="coord")
    donor = DonorFactory(centre=centre, code="BR-SIGN", status="in_evaluation")
    decision = workup_services.propose_decision(
        actor=Actor(user=coordinator),
        donor=donor,
        outcome="suitable",
        reasons="team meeting",
        override_reason="accepted by the team despite the open checks",
    )
    for role in ("radiologist", "hepatologist"):
        signer = UserFactory(centre=centre, roles=[role])
        workup_services.sign_decision(actor=Actor(user=signer), donor=donor, decision_id=decision.pk, signed_as=role)
    assert surgeon.pk

    login("cutter")
    assert page.url.endswith("/donors/worklist/")
    assert count(page, "surgeon", "sign_off") == 1
    assert count(page, "surgeon", "not_operated") == 0
    assert page.locator("[data-section=not_operated] a:has-text('Surgical worklist')").count() == 1

    rows(page, "surgeon", "sign_off").filter(has_text="BR-SIGN").locator("a").click()
    page.wait_for_url(f"**/donors/{donor.pk}/workup/#decision")
    page.click("button:has-text('Sign the decision')")
    page.wait_for_url(f"**/donors/{donor.pk}/workup/#decision")
    assert Donor.objects.get(pk=donor.pk).status == "suitable"

    open_worklist(page)
    assert count(page, "surgeon", "sign_off") == 0
    assert count(page, "surgeon", "not_operated") == 1
    assert "BR-SIGN" in rows(page, "surgeon", "not_operated").first.inner_text()


def test_auditor_lands_on_the_refusals_and_failed_logins_highlighted(
    page, live_server, login, make_user, centre, other_centre
):
    make_user("auditor", username="audit")
    nurse = make_user("coordinator", username="nurse")
    donor = DonorFactory(centre=centre, code="BR-AUDIT")
    prober = UserFactory(centre=other_centre, roles=["coordinator"], username="prober")
    record_refused_access(
        actor=Actor(user=prober), record_type="donors.Donor", record_id=donor.pk, target_centre_id=centre.pk
    )
    record_login_lockout(username=nurse.username, ip_address="10.9.9.9", failures=5, cool_off_minutes=15)

    login("audit")
    assert page.url.endswith("/donors/worklist/")
    assert count(page, "auditor", "alerts") == 2
    alerts = rows(page, "auditor", "alerts")
    assert alerts.count() == 2
    for row in alerts.all():
        assert "alert-row" in row.get_attribute("class")
    words = [row.locator(".alert-word").inner_text().lower() for row in alerts.all()]
    assert words == ["failed logins", "refused"]
    assert "login locked out for nurse" in alerts.first.inner_text()

    # The row opens the audit trail, where the refusal is highlighted the same way.
    alerts.filter(has_text="prober").locator("a").click()
    page.wait_for_url("**/donors/audit/?username=prober")
    refused = page.locator("tbody tr[data-alert]")
    assert refused.count() == 1
    assert "refused" in refused.locator(".alert-word").inner_text().lower()
    assert "not a record of your centre" in refused.inner_text()
