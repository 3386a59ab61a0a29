import datetime

import pytest

from core.roles import ALLOWED, Action, Role, may
from donors import validation
from donors.validation import donor_errors, recipient_errors


def test_every_action_has_at_least_one_role():
    assert set(ALLOWED) == set(Action)
    assert all(ALLOWED[action] for action in Action)


@pytest.mark.parametrize(
    "roles,action,expected",
    [
        (["surgeon"], Action.EDIT_DEMOGRAPHICS, False),
        (["coordinator"], Action.EDIT_DEMOGRAPHICS, True),
        (["auditor"], Action.VIEW_DONOR, False),
        (["auditor"], Action.VIEW_AUDIT, True),
        (["coordinator"], Action.VIEW_AUDIT, False),
        (["radiologist"], Action.RECORD_ANATOMY, True),
        (["surgeon"], Action.RECORD_ANATOMY, False),
        (["surgeon"], Action.RECORD_OUTCOME, True),
        (["integration_client"], Action.CREATE_DONOR, True),
        (["integration_client"], Action.VIEW_AUDIT, False),
        (["surgeon", "coordinator"], Action.EDIT_DEMOGRAPHICS, True),
        ([], Action.VIEW_DONOR, False),
    ],
)
def test_permission_decisions(roles, action, expected):
    assert may(roles, action) is expected


def test_auditor_reads_the_audit_trail_only():
    allowed = {action for action in Action if may([Role.AUDITOR], action)}
    assert allowed == {Action.VIEW_AUDIT, Action.VIEW_COHORT}


TODAY = datetime.date(2026, 11, 22)


@pytest.mark.parametrize(
    "values,field,fragment",
    [
        ({"height_cm": 0}, "height_cm", "outside the plausible range"),
        ({"weight_kg": 900}, "weight_kg", "900 kg is outside"),
        ({"weight_kg": "heavy"}, "weight_kg", "must be a number"),
        ({"date_of_birth": datetime.date(2027, 1, 1)}, "date_of_birth", "in the future"),
        ({"date_of_birth": datetime.date(2015, 1, 1)}, "date_of_birth", "age of 11"),
        ({"code": "  "}, "code", "may not be blank"),
    ],
)
def test_impossible_donor_values_name_the_field(values, field, fragment):
    errors = donor_errors(values, today=TODAY)
    assert list(errors) == [field]
    assert fragment in errors[field][0]


def test_plausible_donor_values_pass():
    assert (
        donor_errors(
            {"height_cm": 165, "weight_kg": 62, "date_of_birth": datetime.date(1990, 4, 12), "code": "D1"}, today=TODAY
        )
        == {}
    )


@pytest.mark.parametrize(
    "values",
    [
        {"diagnosis": "primary_sclerosing_cholangitis", "own_duct_usable": True, "age_years": 40},
        {"diagnosis": "biliary_atresia", "own_duct_usable": True, "age_years": 1},
        {"diagnosis": "metabolic_disease", "own_duct_usable": True, "age_years": 2},
    ],
)
def test_recipient_duct_cannot_be_usable_for_psc_biliary_atresia_or_small_children(values):
    assert "own_duct_usable" in recipient_errors(values)


def test_recipient_duct_usable_for_adult_hepatitis():
    assert recipient_errors({"diagnosis": "viral_hepatitis", "own_duct_usable": True, "age_years": 50}) == {}


@pytest.mark.parametrize(
    "day,reason",
    [
        (datetime.date(1, 1, 1), "0001-01-01 is before 1900-01-01: check the year"),
        (datetime.date(1899, 12, 31), "1899-12-31 is before 1900-01-01: check the year"),
        (datetime.date(1900, 1, 1), None),
        (datetime.date(2026, 3, 10), None),
        (datetime.date(2026, 3, 11), "2026-03-11 is in the future"),
        ("2026-03-01", "must be a date (YYYY-MM-DD)"),
        (datetime.datetime(2026, 3, 1, 10, 0), "must be a date (YYYY-MM-DD)"),
    ],
)
def test_dates_of_past_events_are_plausible(day, reason):
    assert validation.past_event_date_error(day, today=datetime.date(2026, 3, 10)) == reason
