import pytest

from classification.models import Annotation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_preset_edit_changes_the_proposed_type_live_and_saves(page, live_server, login, make_user, donor, eager_tasks, tmp_path):
    make_user("radiologist", username="rad")
    login("rad")
    page.goto(f"{live_server.url}/anatomy/donors/{donor.pk}/")
    page.select_option("#preset", "typical_right_lobe")
    page.click("#load-preset")
    proposed = page.locator("[data-testid=proposed-type]")
    proposed.filter(has_text="1").wait_for()
    assert page.locator("#diagram svg").count() == 1
    assert page.locator("#systems tr").count() == 6

    rhd_length = page.locator("#ducts tr[data-duct=RHD] [data-field=length_mm]")
    assert rhd_length.input_value() == "7"
    rhd_length.fill("4")
    page.wait_for_function("document.querySelector('[data-testid=proposed-type]').textContent === '2'")

    # A length the rules cannot use is flagged next to its field.
    rhd_length.fill("")
    page.locator("#ducts tr[data-duct=RHD] .field-error").filter(has_text="needed").wait_for()
    rhd_length.fill("4")
    page.wait_for_function("document.querySelector('[data-testid=proposed-type]').textContent === '2'")

    page.click("button:has-text('Save anatomy')")
    page.wait_for_load_state("networkidle")
    annotation = Annotation.objects.get(donor=donor)
    assert annotation.classification == "done"
    assert annotation.runs.get().results.get(system="proposed").type == "2"
    page.screenshot(path=str(tmp_path / "anatomy.png"), full_page=True)
