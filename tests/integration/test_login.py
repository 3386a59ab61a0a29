"""Logging in: lockout after repeated failures (per user name and per address), the first page
after login, API token throttling, and the headers every answer with patient data carries."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.authentication import ApiClientRateThrottle
from core.models import AuditEvent
from core.tokens import issue_api_client

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PASSWORD = "correct-horse-battery"  # tests/factories.py
LIMIT = 5  # AXES_FAILURE_LIMIT's default
LOCKOUT_TEXT = "Too many failed logins for this account or from this address"


def log_in(username, password, *, address="10.0.0.1", client=None, **headers):
    client = client or Client()
    response = client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )
    return client, response


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_right_password_after_the_limit_of_wrong_ones_is_refused_with_a_clear_message(make_user, centre):
    user = make_user("coordinator", username="nurse")
    for _ in range(LIMIT - 1):
        client, response = log_in("nurse", "wrong-password")
        assert response.status_code == 200 and not logged_in(client)
    # The failure that reaches the limit already answers with the lockout.
    assert log_in("nurse", "wrong-password")[1].status_code == 429

    client, response = log_in("nurse", PASSWORD)
    assert response.status_code == 429 and not logged_in(client)
    page = response.content.decode()
    assert LOCKOUT_TEXT in page and "try again in 15 minutes" in page
    assert "ask your centre&#x27;s administrator to unlock it" in page

    refusals = AuditEvent.objects.filter(kind="denied", record_type="donors.User", record_id=str(user.pk))
    # Every failed attempt is in the trail; the one that reached the limit was already answered with the lockout.
    assert refusals.filter(summary__endswith="wrong user name or password").count() == LIMIT - 1
    assert refusals.filter(summary__startswith="login failed", summary__endswith=": locked out").count() == 2
    event = refusals.filter(summary__startswith="login locked out").latest("at")
    assert event.alert == "Failed logins"
    assert event.centre_id == centre.pk and event.user_id is None and event.ip_address == "10.0.0.1"
    assert event.changes["username"] == "nurse" and "locked out" in event.summary


def test_fewer_failures_than_the_limit_still_let_the_right_password_in_and_start_the_count_again(make_user):
    make_user("coordinator", username="nurse")
    for _ in range(LIMIT - 1):
        log_in("nurse", "wrong-password")
    client, response = log_in("nurse", PASSWORD)
    assert response.status_code == 302 and logged_in(client)

    # The success cleared the count: the limit applies afresh.
    for _ in range(LIMIT - 1):
        log_in("nurse", "wrong-password")
    client, response = log_in("nurse", PASSWORD)
    assert logged_in(client)
    # Each wrong password is in the trail as a failed login; none of them locked the account.
    denied = AuditEvent.objects.filter(kind="denied", record_type="donors.User")
    assert denied.count() == 2 * (LIMIT - 1)
    assert all(event.alert == "Failed login" for event in denied)
    assert all("wrong user name or password" in event.summary for event in denied)


def test_an_account_is_locked_whatever_address_the_failures_come_from(make_user):
    make_user("coordinator", username="nurse")
    for n in range(LIMIT):
        log_in("nurse", "wrong-password", address=f"10.0.1.{n}")
    client, response = log_in("nurse", PASSWORD, address="10.0.1.200")
    assert response.status_code == 429 and not logged_in(client)


def test_an_address_trying_many_accounts_is_locked_for_every_account(make_user):
    make_user("coordinator", username="nurse")
    for n in range(LIMIT):
        log_in(f"guess-{n}", "wrong-password", address="10.0.2.7")
    client, response = log_in("nurse", PASSWORD, address="10.0.2.7")
    assert response.status_code == 429 and not logged_in(client)
    # The account itself had no failure: from another address it logs in.
    client, response = log_in("nurse", PASSWORD, address="10.0.2.8")
    assert logged_in(client)


def test_behind_the_proxy_a_forged_forwarded_address_does_not_escape_the_address_lockout(make_user, settings):
    settings.USE_X_FORWARDED_FOR = True
    make_user("coordinator", username="nurse")
    for n in range(LIMIT):
        # The client writes any X-Forwarded-For it likes; the proxy appends the address it saw.
        log_in(f"guess-{n}", "wrong-password", address="172.16.0.2", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 10.0.3.9")
    client, response = log_in("nurse", PASSWORD, address="172.16.0.2", HTTP_X_FORWARDED_FOR="9.9.9.9, 10.0.3.9")
    assert response.status_code == 429 and not logged_in(client)
    assert AuditEvent.objects.filter(kind="denied", record_type="donors.User").latest("at").ip_address == "10.0.3.9"


def test_the_lockout_ends_after_the_cool_off_or_when_an_administrator_unlocks(make_user):
    make_user("coordinator", username="nurse")
    make_user("surgeon", username="surgeon")
    for who in ("nurse", "surgeon"):
        for n in range(LIMIT):
            log_in(who, "wrong-password", address=f"10.0.4.{n}")
        assert log_in(who, PASSWORD, address="10.0.4.100")[1].status_code == 429

    AccessAttempt.objects.filter(username="nurse").update(attempt_time=timezone.now() - datetime.timedelta(minutes=16))
    client, _ = log_in("nurse", PASSWORD, address="10.0.4.100")
    assert logged_in(client)

    call_command("axes_reset_username", "surgeon")
    client, _ = log_in("surgeon", PASSWORD, address="10.0.4.100")
    assert logged_in(client)


def test_each_role_lands_on_its_worklist(make_user):
    for role in ("auditor", "coordinator", "radiologist", "hepatologist", "surgeon"):
        make_user(role, username=f"{role}-login")
        client, response = log_in(f"{role}-login", PASSWORD)
        assert response.status_code == 302
        landing = client.get(response["Location"], follow=True)
        assert landing.status_code == 200 and landing.request["PATH_INFO"] == "/donors/worklist/"
        assert f'data-role="{role}"' in landing.content.decode()


def test_a_hospital_systems_token_is_throttled_with_the_error_shape_and_sessions_are_not(
    centre, make_user, monkeypatch
):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(ApiClientRateThrottle, "THROTTLE_RATES", {"api_client": "3/min"})
    _, key = issue_api_client(centre=centre, name="HIS")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert [api.get("/api/v1/donors/").status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get("/api/v1/donors/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    error = refused.json()["error"]
    assert error["code"] == "throttled" and "throttled" in error["message"] and error["fields"] == {}

    # Another token has its own count; a person's session is not throttled.
    _, other_key = issue_api_client(centre=centre, name="LIS")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
    assert other.get("/api/v1/donors/").status_code == 200
    person = Client()
    person.force_login(make_user("coordinator"))
    assert [person.get("/api/v1/donors/").status_code for _ in range(5)] == [200] * 5


def test_pages_and_api_answers_are_never_stored_and_pages_carry_a_content_security_policy(make_user, donor):
    client = Client()
    client.force_login(make_user("coordinator"))
    for url in (f"/donors/{donor.pk}/", "/donors/", f"/api/v1/donors/{donor.pk}/", "/api/v1/donors/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
    policy = client.get(f"/donors/{donor.pk}/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
