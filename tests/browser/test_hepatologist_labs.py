import datetime

import pytest

from tests.factories import DonorFactory
from workup import selectors as workup_selectors
from workup.models import LabResult

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_biliary_type(monkeypatch):
    monkeypatch.setattr(workup_selectors, "final_proposed_type", lambda donor: None)


def test_hepatologist_enters_labs_and_sees_apri_and_fib4_flags(page, live_server, login, make_user, centre):
    today = datetime.date.today()
    donor = DonorFactory(
        centre=centre, code="BR-LAB", status="in_evaluation", date_of_birth=datetime.date(today.year - 40, 1, 1)
    )  # 40 years old
    make_user("hepatologist", username="hep")
    login("hep")
    page.goto(f"{live_server.url}/donors/{donor.pk}/")
    page.click("text=Open the workup")
    page.wait_for_url(f"**/donors/{donor.pk}/workup/")
    assert page.inner_text("[data-testid=state-apri]") == "missing"
    assert "APRI" in page.inner_text("[data-testid=outstanding]")

    form = page.locator("form[data-form=labs]")
    form.locator("#id_labs-ast").fill("60")
    form.locator("#id_labs-alt").fill("36")
    form.locator("#id_labs-alt_uln").fill("41")
    form.locator("#id_labs-platelets").fill("0")
    form.locator("#id_labs-serology").fill("HBsAg, anti-HCV, HIV negative")
    form.locator("button[type=submit]").click()
    # Platelets 0 and the missing AST upper limit are refused next to their fields; nothing stored.
    assert "implausible" in page.inner_text("[data-field=platelets]")
    assert "APRI needs" in page.inner_text("[data-field=ast_uln]")
    assert LabResult.objects.count() == 0

    form = page.locator("form[data-form=labs]")
    form.locator("#id_labs-platelets").fill("150")
    form.locator("#id_labs-ast_uln").fill("40")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/donors/{donor.pk}/workup/#labs")
    # APRI = (60 / 40) / 150 x 100 = 1.0, above 0.5: flagged
    assert page.inner_text("[data-testid=value-apri]") == "1.0"
    assert page.inner_text("[data-testid=state-apri]") == "borderline"
    # FIB-4 = 40 x 60 / (150 x sqrt(36)) = 2400 / 900 = 2.67, at least 1.45: flagged
    assert page.inner_text("[data-testid=value-fib4]") == "2.67"
    assert page.inner_text("[data-testid=state-fib4]") == "borderline"
    assert "APRI" not in page.inner_text("[data-testid=outstanding]")
    assert "hep" in page.inner_text("[data-record=labs]")
    stored = LabResult.objects.get()
    assert stored.ast_uln == 40 and stored.recorded_by.username == "hep"
