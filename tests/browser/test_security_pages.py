"""Pages under the Content-Security-Policy (the page fixture fails on any violation), the lockout
message, the auditor's first page, and the API docs with no internet."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_auditor_lands_on_the_worklist_that_opens_the_audit_trail(page, live_server, login, make_user):
    make_user("auditor", username="aud")
    login("aud")
    assert page.url == f"{live_server.url}/donors/worklist/"
    assert page.locator("[data-role=auditor] h2").inner_text().startswith("Auditor")
    page.click("[data-role=auditor] a:has-text('Full audit trail')")
    page.wait_for_url(f"{live_server.url}/donors/audit/")
    assert page.locator("h1").inner_text().lower().startswith("audit")


def test_repeated_wrong_passwords_show_the_lockout_message(page, live_server, login, make_user):
    make_user("coordinator", username="coord")
    for _ in range(5):
        login("coord", password="not-the-password")
    login("coord")
    message = page.locator("[data-testid=lockout]").inner_text()
    assert "Too many failed logins for this account or from this address" in message
    assert "try again in 15 minutes or ask your centre's administrator to unlock it" in message
    assert page.url.endswith("/accounts/login/")


def test_the_api_docs_work_without_internet(page, live_server, login, make_user):
    make_user("coordinator", username="coord")
    login("coord")
    outside = []

    def only_this_server(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".swagger-ui .info .title").filter(has_text="Living donor liver workup API").wait_for()
    page.locator(".opblock-summary-path", has_text="/api/v1/donors/").first.wait_for()
    assert outside == []


def test_main_pages_pass_the_content_security_policy(page, live_server, login, make_user, donor):
    make_user("coordinator", "radiologist", "hepatologist", "surgeon", username="team")
    login("team")
    for path in (
        "/donors/worklist/",
        "/donors/",
        f"/donors/{donor.pk}/",
        f"/donors/{donor.pk}/workup/",
        f"/anatomy/donors/{donor.pk}/",
        "/anatomy/worklist/",
        f"/imaging/donors/{donor.pk}/upload/",
        f"/reports/donors/{donor.pk}/",
        "/reports/cohort/",
    ):
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert response.status < 400, path
        assert "no-store" in response.headers["cache-control"], path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
    # The report's print button works without an inline handler.
    page.goto(f"{live_server.url}/reports/donors/{donor.pk}/")
    page.evaluate("window.print = () => { document.body.dataset.printed = '1'; }")
    page.click("button[data-print]")
    assert page.locator("body").get_attribute("data-printed") == "1"
