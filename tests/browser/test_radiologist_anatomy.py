import pytest

from classification.models import Annotation
from tests.browser.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_preset_edit_changes_the_proposed_type_live_and_saves(
    page, live_server, login, make_user, donor, eager_tasks, tmp_path
):
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
    wait_until(page, "document.querySelector('[data-testid=proposed-type]').textContent === '2'")

    # A length the rules cannot use is flagged next to its field.
    rhd_length.fill("")
    page.locator("#ducts tr[data-duct=RHD] .field-error").filter(has_text="needed").wait_for()
    rhd_length.fill("4")
    wait_until(page, "document.querySelector('[data-testid=proposed-type]').textContent === '2'")

    page.click("button:has-text('Save anatomy')")
    page.wait_for_load_state("networkidle")
    annotation = Annotation.objects.get(donor=donor)
    assert annotation.classification == "done"
    assert annotation.runs.get().results.get(system="proposed").type == "2"
    page.screenshot(path=str(tmp_path / "anatomy.png"), full_page=True)


def _measurement(donor, user, label, length_mm):
    from imaging.models import Measurement, Series, Study

    study, _ = Study.objects.get_or_create(donor=donor, centre=donor.centre, study_instance_uid="1.2.840.99")
    series, _ = Series.objects.get_or_create(study=study, series_instance_uid="1.2.840.99.1")
    return Measurement.objects.create(
        donor=donor,
        series=series,
        kind="mip",
        points=[],
        patient_points=[],
        length_mm=length_mm,
        label=label,
        created_by=user,
    )


def test_measurements_offer_the_ducts_on_screen_and_start_on_the_duct_their_label_names(
    page, live_server, login, make_user, donor, eager_tasks
):
    radiologist = make_user("radiologist", username="rad")
    rphd = _measurement(donor, radiologist, "RPHD", 21.4)
    unnamed = _measurement(donor, radiologist, "near the hilum", 9.2)
    login("rad")
    page.goto(f"{live_server.url}/anatomy/donors/{donor.pk}/")
    rphd_item = page.locator(f"#measurements li[data-measurement='{rphd.pk}']")
    unnamed_item = page.locator(f"#measurements li[data-measurement='{unnamed.pk}']")
    rphd_item.wait_for()

    # A first anatomy: no ducts yet, so nothing to choose; the preset's ducts appear at once.
    assert rphd_item.locator("select option").all_inner_texts() == ["choose a duct"]
    page.select_option("#preset", "typical_right_lobe")
    page.click("#load-preset")
    page.locator("[data-testid=proposed-type]").filter(has_text="1").wait_for()
    assert rphd_item.locator("select option").all_inner_texts() == [
        "choose a duct",
        "RAHD",
        "RPHD",
        "RHD",
        "B2",
        "B3",
        "B23",
        "B4",
        "LHD",
        "CYSTIC",
    ]
    assert rphd_item.locator("select").input_value() == "RPHD"
    assert unnamed_item.locator("select").input_value() == ""
    assert unnamed_item.locator("button").is_disabled()

    rphd_item.locator("button:has-text('Use as length')").click()
    assert page.locator("#ducts tr[data-duct=RPHD] [data-field=length_mm]").input_value() == "21.4"
    assert page.locator("#ducts tr[data-duct=RAHD] [data-field=length_mm]").input_value() == "14"

    # A duct added by hand is offered too.
    page.click("#add-duct")
    page.locator("#ducts tbody tr").last.locator("[data-field=id]").fill("ACC")
    unnamed_item.locator("select").select_option("ACC")
    unnamed_item.locator("button").click()
    assert page.locator("#ducts tbody tr").last.locator("[data-field=length_mm]").input_value() == "9.2"
    page.locator("#ducts tbody tr").last.locator("button:has-text('Remove')").click()

    page.click("button:has-text('Save anatomy')")
    page.wait_for_load_state("networkidle")
    assert Annotation.objects.get(donor=donor).document["ducts"][1] == {
        "id": "RPHD",
        "drains_into": "RHD",
        "segments": [6, 7],
        "length_mm": 21.4,
        "course": "supraportal",
    }

    # After the save each measurement again starts on its own duct (or none), never on RAHD.
    page.goto(f"{live_server.url}/anatomy/donors/{donor.pk}/")
    rphd_item.locator("select option[value=RPHD]").wait_for(state="attached")
    assert rphd_item.locator("select").input_value() == "RPHD"
    assert unnamed_item.locator("select").input_value() == ""
