"""The decision cannot be taken by the wrong door, outcomes only for accepted donors, plausible
dates and BMI, and reports that say when the records changed since an issued version."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from classification.models import SurgicalOutcome
from core.models import AuditEvent
from donors.models import Donor, StatusChange
from reports.services import issue_report
from tests.factories import DonorFactory, accept_donor
from tests.integration.test_reports import actor, annotate, api, browser
from workup import services as workup_services
from workup.models import LabResult

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signers(staff):
    return {role: staff[role] for role in ("coordinator", "radiologist", "hepatologist", "surgeon")}


def in_evaluation(centre, **values):
    return DonorFactory(centre=centre, status="in_evaluation", **values)


# ---------------------------------------------------------------- the manual status change


@pytest.mark.parametrize("target", ["suitable", "suitable_with_conditions", "not_suitable"])
def test_a_coordinator_cannot_set_a_decision_status_and_is_told_what_is_missing(centre, staff, target):
    donor = in_evaluation(centre)
    response = api(staff["coordinator"]).post(
        f"/api/v1/donors/{donor.pk}/transitions/", {"to_status": target, "reason": "looks fine"}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_state"
    assert "is set only by the completed multidisciplinary decision" in error["message"]
    assert "sign-offs by the radiologist, hepatologist and surgeon" in error["message"]
    assert error["fields"]["to_status"] == [error["message"]]
    donor.refresh_from_db()
    assert (donor.status, donor.version) == ("in_evaluation", 1)
    assert not StatusChange.objects.filter(donor=donor).exists()
    assert not AuditEvent.objects.filter(donor_id=donor.pk, kind="transition").exists()


def test_the_refusal_names_the_sign_offs_still_missing(centre, staff):
    donor = in_evaluation(centre)
    decision = workup_services.propose_decision(
        actor=actor(staff["surgeon"]),
        donor=donor,
        outcome="suitable",
        reasons="good volumes",
        override_reason="checks open",
    )
    workup_services.sign_decision(
        actor=actor(staff["radiologist"]), donor=donor, decision_id=decision.pk, signed_as="radiologist"
    )
    response = api(staff["coordinator"]).post(
        f"/api/v1/donors/{donor.pk}/transitions/", {"to_status": "suitable", "reason": "team agreed"}, format="json"
    )
    assert response.status_code == 409
    assert "it needs sign-offs by the hepatologist and surgeon" in response.json()["error"]["message"]


def test_the_status_page_uses_the_same_rule(centre, staff):
    donor = in_evaluation(centre)
    client = browser(staff["coordinator"])
    page = client.get(f"/donors/{donor.pk}/")
    assert [value for value, _ in page.context["transition_form"].fields["to_status"].choices] == ["withdrawn"]
    response = client.post(f"/donors/{donor.pk}/status/", {"to_status": "suitable", "reason": "fine", "version": 1})
    assert response.status_code == 409
    errors = response.context["transition_form"].errors["to_status"]
    assert "suitable is set only by the completed multidisciplinary decision" in errors[0]
    assert [value for value, _ in response.context["transition_form"].fields["to_status"].choices] == ["withdrawn"]
    donor.refresh_from_db()
    assert donor.status == "in_evaluation"


def test_the_completed_decision_sets_the_status_and_a_coordinator_may_reopen_it(centre, staff):
    donor = in_evaluation(centre)
    decision = accept_donor(donor, outcome="suitable_with_conditions", signers=signers(staff))
    assert donor.status == "suitable_with_conditions"
    change = StatusChange.objects.get(donor=donor, to_status="suitable_with_conditions")
    assert change.reason.startswith(f"multidisciplinary decision {decision.pk}")
    coordinator = api(staff["coordinator"])
    url = f"/api/v1/donors/{donor.pk}/transitions/"
    refused = coordinator.post(url, {"to_status": "donated", "reason": "operated"}, format="json")
    assert refused.status_code == 409
    assert "donated is set only when the surgeon records the operation" in refused.json()["error"]["message"]
    assert (
        coordinator.post(url, {"to_status": "in_evaluation", "reason": "new findings"}, format="json").status_code
        == 201
    )
    # The trail says it in words.
    event = AuditEvent.objects.filter(donor_id=donor.pk, kind="transition").latest("pk")
    assert event.summary == "status suitable with conditions -> in evaluation"


# ---------------------------------------------------------------- the operation


def outcome_post(staff, donor, **values):
    body = {"anastomoses": 1, "technique": "end-to-end", "operated_on": TODAY.isoformat()} | values
    return api(staff["surgeon"]).post(f"/api/v1/donors/{donor.pk}/outcome/", body, format="json")


@pytest.mark.parametrize("status", ["candidate", "in_evaluation", "withdrawn"])
def test_no_outcome_for_a_donor_the_team_did_not_accept(
    centre, staff, status, eager_tasks, django_capture_on_commit_callbacks
):
    donor = DonorFactory(centre=centre, status=status)
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    response = outcome_post(staff, donor)
    assert response.status_code == 409
    message = response.json()["error"]["message"]
    assert "an operation is recorded only for a donor whose multidisciplinary decision is suitable" in message
    assert not SurgicalOutcome.objects.exists()
    assert Donor.objects.get(pk=donor.pk).status == status


def test_no_outcome_for_a_donor_decided_not_suitable(centre, staff, eager_tasks, django_capture_on_commit_callbacks):
    donor = in_evaluation(centre)
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    accept_donor(donor, outcome="not_suitable", signers=signers(staff))
    response = outcome_post(staff, donor)
    assert response.status_code == 409
    assert "the team decided not suitable" in response.json()["error"]["message"]
    assert not SurgicalOutcome.objects.exists()


def test_a_suitable_status_without_a_signed_decision_is_not_enough(
    centre, staff, eager_tasks, django_capture_on_commit_callbacks
):
    # A status set before decisions were required (a wrong door since closed) does not count.
    donor = DonorFactory(centre=centre, status="suitable")
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    response = outcome_post(staff, donor)
    assert response.status_code == 409
    assert "without a completed multidisciplinary decision" in response.json()["error"]["message"]


def test_recording_the_operation_sets_donated(centre, staff, eager_tasks, django_capture_on_commit_callbacks):
    donor = in_evaluation(centre)
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    accept_donor(donor, signers=signers(staff))
    response = outcome_post(staff, donor)
    assert response.status_code == 201, response.content
    donor.refresh_from_db()
    assert donor.status == "donated"
    change = StatusChange.objects.get(donor=donor, to_status="donated")
    assert (change.from_status, change.changed_by) == ("suitable", staff["surgeon"])
    assert f"operated on {TODAY.isoformat()}" in change.reason
    assert (
        AuditEvent.objects.filter(donor_id=donor.pk, kind="transition", summary="status suitable -> donated").count()
        == 1
    )
    # The surgeon may correct the record of a donated donor; the status stays.
    version = response.json()["version"]
    again = outcome_post(staff, donor, anastomoses=2, technique="double end-to-end", version=version)
    assert again.status_code == 200, again.content
    assert StatusChange.objects.filter(donor=donor, to_status="donated").count() == 1


@pytest.mark.parametrize(
    "operated_on,reason",
    [
        ("0001-01-01", "0001-01-01 is before 1900-01-01: check the year"),
        ((TODAY + datetime.timedelta(days=1)).isoformat(), "is in the future"),
        ((TODAY - datetime.timedelta(days=1)).isoformat(), "is before the team's decision"),
        (None, "the operation date is required"),
    ],
)
def test_implausible_operation_dates_are_refused(
    centre, staff, operated_on, reason, eager_tasks, django_capture_on_commit_callbacks
):
    donor = in_evaluation(centre)
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    accept_donor(donor, signers=signers(staff))
    response = outcome_post(staff, donor, operated_on=operated_on)
    assert response.status_code == 400
    assert reason in response.json()["error"]["fields"]["operated_on"][0]
    assert not SurgicalOutcome.objects.exists()
    assert Donor.objects.get(pk=donor.pk).status == "suitable"


# ---------------------------------------------------------------- plausible values


@pytest.mark.parametrize(
    "day,reason",
    [
        ("0001-01-01", "0001-01-01 is before 1900-01-01: check the year"),
        ("1899-12-31", "1899-12-31 is before 1900-01-01: check the year"),
        ((TODAY + datetime.timedelta(days=1)).isoformat(), "is in the future"),
    ],
)
def test_a_lab_dated_before_1900_or_in_the_future_is_refused(centre, staff, day, reason):
    donor = in_evaluation(centre)
    response = api(staff["hepatologist"]).post(
        f"/api/v1/donors/{donor.pk}/labs/", {"measured_on": day, "ast": "20", "ast_uln": "40"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert reason in response.json()["error"]["fields"]["measured_on"][0]
    assert not LabResult.objects.exists()


def test_the_demo_donors_have_plausible_bmis(db):
    from donors.demo import seed_demo_centre
    from workup import criteria

    centre, _ = seed_demo_centre()
    bmis = [criteria.bmi(float(d.weight_kg), float(d.height_cm)) for d in Donor.objects.filter(centre=centre)]
    assert len(bmis) == 20 and all(18.5 <= value <= 30 for value in bmis), bmis


def test_an_underweight_donor_fails_the_bmi_check(centre, staff):
    from workup import selectors as ws

    donor = DonorFactory(centre=centre, height_cm=Decimal("189"), weight_kg=Decimal("53"))
    bmi = next(item for item in ws.evaluate(donor).items if item.key == "bmi")
    assert (bmi.state, bmi.value) == ("fail", 14.8)


# ---------------------------------------------------------------- reports that say they are out of date


def test_draft_and_issued_versions_say_when_the_records_changed(
    centre, staff, media, eager_tasks, django_capture_on_commit_callbacks
):
    donor = in_evaluation(centre)
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    client = browser(staff["surgeon"])
    assert "changed-since-issue" not in client.get(f"/reports/donors/{donor.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        first = issue_report(actor=actor(staff["surgeon"]), donor=donor)
    draft = client.get(f"/reports/donors/{donor.pk}/").content.decode()
    assert 'data-testid="unchanged-since-issue"' in draft and 'data-testid="changed-since-issue"' not in draft

    workup_services.record_workup(
        actor=actor(staff["hepatologist"]),
        donor=donor,
        kind="labs",
        values={"measured_on": TODAY, "ast": Decimal(20), "ast_uln": Decimal(40)},
    )
    draft = client.get(f"/reports/donors/{donor.pk}/").content.decode()
    assert "The records changed since version 1 was issued" in draft
    assert "recorded the laboratory results" in draft
    issued = client.get(f"/reports/versions/{first.pk}/").content.decode()
    assert "The records changed since this version was issued" in issued
    assert 'data-testid="version-superseded"' not in issued

    with django_capture_on_commit_callbacks(execute=False):
        second = issue_report(actor=actor(staff["surgeon"]), donor=donor)
    old = client.get(f"/reports/versions/{first.pk}/").content.decode()
    assert "Not the current report: version 2" in old
    current = client.get(f"/reports/versions/{second.pk}/").content.decode()
    assert 'data-testid="version-superseded"' not in current and 'data-testid="changed-since-issue"' not in current
    draft = client.get(f"/reports/donors/{donor.pk}/").content.decode()
    assert "No record changed since version 2 was issued" in draft


def test_status_history_and_outcome_counts_read_as_words(
    centre, staff, eager_tasks, django_capture_on_commit_callbacks
):
    donor = in_evaluation(centre)
    annotate(donor, staff["radiologist"], django_capture_on_commit_callbacks)
    accept_donor(donor, signers=signers(staff))
    assert outcome_post(staff, donor).status_code == 201
    history = browser(staff["coordinator"]).get(f"/donors/{donor.pk}/").content.decode()
    assert "<td>In evaluation</td><td>Suitable</td>" in history
    assert "<td>Suitable</td><td>Donated</td>" in history
    assert "in_evaluation</td>" not in history
    summaries = list(AuditEvent.objects.filter(donor_id=donor.pk).values_list("summary", flat=True))
    assert any("recorded 1 biliary anastomosis " in summary for summary in summaries), summaries
    assert not any("(es)" in summary for summary in summaries)


def test_every_page_names_an_icon_that_the_app_serves(centre, staff):
    from django.contrib.staticfiles import finders

    page = browser(staff["coordinator"]).get("/donors/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg"' in page
    assert finders.find("favicon.svg") is not None
