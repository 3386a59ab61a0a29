import datetime

import pytest

from classification.outcomes import operation_date_errors

TODAY = datetime.date(2026, 3, 10)
DECIDED = datetime.date(2026, 2, 1)


@pytest.mark.parametrize(
    "operated_on,reason",
    [
        (None, "the operation date is required"),
        (datetime.date(1, 1, 1), "0001-01-01 is before 1900-01-01: check the year"),
        (datetime.date(2026, 3, 11), "2026-03-11 is in the future"),
        (
            datetime.date(2026, 1, 31),
            "2026-01-31 is before the team's decision (2026-02-01): the operation follows the decision",
        ),
    ],
)
def test_implausible_operation_dates_are_refused(operated_on, reason):
    assert operation_date_errors(operated_on, decided_on=DECIDED, today=TODAY) == {"operated_on": [reason]}


@pytest.mark.parametrize("operated_on", [DECIDED, TODAY])
def test_an_operation_on_the_day_of_the_decision_or_today_is_plausible(operated_on):
    assert operation_date_errors(operated_on, decided_on=DECIDED, today=TODAY) == {}


def test_without_a_decision_date_only_plausibility_applies():
    assert operation_date_errors(datetime.date(2001, 5, 5), decided_on=None, today=TODAY) == {}
