import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_coordinator_creates_finds_and_opens_a_donor(page, live_server, login, make_user):
    make_user("coordinator", username="coord")
    login("coord")
    page.click("text=New donor")
    page.fill("#id_code", "BR-001")
    page.fill("#id_mrn", "MRN-BR-1")
    page.fill("#id_given_name", "Selin")
    page.fill("#id_family_name", "Arslan")
    page.fill("#id_date_of_birth", "1991-03-04")
    page.select_option("#id_sex", "female")
    page.fill("#id_height_cm", "0")
    page.fill("#id_weight_kg", "60")
    page.select_option("#id_abo", "A")
    page.select_option("#id_relationship", "sibling")
    page.select_option("#id_planned_graft", "right_lobe")
    page.click("button:has-text('Save')")
    # Height 0 is refused next to its field, and nothing is stored.
    assert "outside the plausible range" in page.inner_text("[data-field=height_cm]")
    page.fill("#id_height_cm", "164")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/donors/*/")
    assert "BR-001" in page.inner_text("h1")
    assert page.inner_text("[data-testid=bmi]").startswith("22.3")  # 60 / 1.64^2 = 22.31

    page.goto(f"{live_server.url}/donors/")
    page.fill("input[name=q]", "arslan")
    page.click("button:has-text('Search')")
    page.click("text=BR-001")
    page.wait_for_url("**/donors/*/")
    assert "Selin Arslan" in page.inner_text("main")
