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


def test_coordinator_cannot_mark_a_donor_suitable(page, live_server, login, make_user, centre):
    from donors.models import Donor
    from tests.factories import DonorFactory

    make_user("coordinator", username="coord")
    donor = DonorFactory(centre=centre, code="BR-DOOR")
    login("coord")
    page.goto(f"{live_server.url}/donors/{donor.pk}/")
    options = page.eval_on_selector_all("#id_to_status option", "els => els.map(e => e.value)")
    assert options == ["in_evaluation", "withdrawn"]
    page.select_option("#id_to_status", "in_evaluation")
    page.fill("#id_reason", "consent signed")
    page.click("button:has-text('Change status')")
    page.wait_for_url(f"**/donors/{donor.pk}/")
    # In evaluation, the status change offers no clinical decision, only withdrawal.
    options = page.eval_on_selector_all("#id_to_status option", "els => els.map(e => e.value)")
    assert options == ["withdrawn"]
    assert "set by the team's signed decision" in page.inner_text("[data-testid=decision-door]")
    # A forged choice is refused by the same rule as the API, naming the missing sign-offs.
    page.eval_on_selector("#id_to_status", "el => el.add(new Option('Suitable', 'suitable', true, true))")
    page.fill("#id_reason", "looks fine")
    page.click("button:has-text('Change status')")
    main = page.inner_text("main")
    assert "suitable is set only by the completed multidisciplinary decision" in main, main
    assert "sign-offs by the radiologist, hepatologist and surgeon" in main
    assert Donor.objects.get(pk=donor.pk).status == "in_evaluation"
