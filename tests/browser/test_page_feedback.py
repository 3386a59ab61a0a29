"""After a submit the page says what happened where the user is looking: the error summary of the
form that failed is in view and focused, a save's confirmation is in the part it returned to, and
an irreversible step is taken only once the user agrees."""

import datetime

import pytest

from donors.models import Donor
from tests.browser.conftest import wait_until
from tests.factories import DonorFactory
from workup.models import Clearance

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IN_VIEW = """(() => {
  const box = document.querySelector('[data-error-summary]');
  if (!box) return false;
  const r = box.getBoundingClientRect();
  return r.top >= -1 && r.bottom <= window.innerHeight + 1 && document.activeElement === box;
})()"""


def test_the_summary_of_a_failed_workup_form_is_in_view(page, live_server, login, make_user, centre):
    donor = DonorFactory(centre=centre, code="BR-FB1", status="in_evaluation")
    make_user("coordinator", username="coord")
    login("coord")
    page.goto(f"{live_server.url}/donors/{donor.pk}/workup/")
    form = page.locator("form[data-form=clearances-donor_advocate]")
    form.locator("#id_clearances-donor_advocate-measured_on").fill("")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    wait_until(page, IN_VIEW)
    assert page.evaluate("window.scrollY") > 1000  # the form is far down the page
    summary = page.locator("[data-error-summary]")
    assert summary.count() == 1
    assert "with the donor advocate clearance" in summary.inner_text()
    # The summary is the failed form's, and its links lead to the fields.
    assert page.locator("form[data-form=clearances-donor_advocate] [data-error-summary]").count() == 1
    summary.locator("a").first.click()
    wait_until(page, "document.activeElement && document.activeElement.id.startsWith('id_clearances-donor_advocate')")
    assert Clearance.objects.count() == 0

    form = page.locator("form[data-form=clearances-donor_advocate]")
    form.locator("#id_clearances-donor_advocate-measured_on").fill(datetime.date.today().isoformat())
    form.locator("#id_clearances-donor_advocate-clearance_status").select_option("cleared")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/donors/{donor.pk}/workup/#clearances-donor_advocate")
    confirmation = page.locator("[data-record=clearances-donor_advocate] ul.messages")
    assert confirmation.inner_text().strip() == "Saved the donor advocate clearance of BR-FB1."
    assert Clearance.objects.count() == 1


def test_withdrawing_a_donor_asks_first_and_a_dismissed_question_changes_nothing(
    page, live_server, login, make_user, centre
):
    donor = DonorFactory(centre=centre, code="BR-FB2")
    make_user("coordinator", username="coord")
    login("coord")
    page.goto(f"{live_server.url}/donors/{donor.pk}/")
    questions = []

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.select_option("#id_to_status", "withdrawn")
    page.fill("#id_reason", "changed their mind")
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_timeout(300)  # time for a submit, had there been one, to leave the page
    assert len(questions) == 1
    assert questions[0].startswith("Withdraw BR-FB2?") and "cannot be undone" in questions[0]
    assert page.url.endswith(f"/donors/{donor.pk}/")
    assert Donor.objects.get(pk=donor.pk).status == "candidate"

    # Another status is not asked about; agreeing to the question withdraws the donor.
    page.remove_listener("dialog", dismiss)
    page.on("dialog", lambda dialog: dialog.accept())
    page.select_option("#id_to_status", "withdrawn")
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_load_state("load")
    wait_until(page, "document.querySelector('ul.messages') !== null")
    assert "Moved BR-FB2 to withdrawn." in page.inner_text("ul.messages")
    assert Donor.objects.get(pk=donor.pk).status == "withdrawn"


def test_a_status_that_is_not_irreversible_is_changed_without_a_question(page, live_server, login, make_user, centre):
    donor = DonorFactory(centre=centre, code="BR-FB3")
    make_user("coordinator", username="coord")
    login("coord")
    page.goto(f"{live_server.url}/donors/{donor.pk}/")
    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.select_option("#id_to_status", "in_evaluation")
    page.fill("#id_reason", "consented")
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_load_state("load")
    wait_until(page, "document.querySelector('ul.messages') !== null")
    assert questions == []
    assert Donor.objects.get(pk=donor.pk).status == "in_evaluation"
