"""What surgeons record after the operation, and the rules for it. Pure."""

from __future__ import annotations

import datetime

from donors.validation import past_event_date_error

# Table 1 of the study, plus "other" for what it does not name (four or more ducts, hepaticojejunostomy
# variants). The count a name implies is checked against the recorded count.
TECHNIQUE_COUNTS: dict[str, int | None] = {
    "end-to-end": 1,
    "Roux-en-Y": 1,
    "double end-to-end": 2,
    "double Roux-en-Y": 2,
    "triple Roux-en-Y": 3,
    "other": None,
}
MIN_ANASTOMOSES, MAX_ANASTOMOSES = 1, 8
TYPICAL_COUNT = {"1": 1, "2": 2, "3": 3}


def outcome_errors(*, anastomoses: object, technique: str | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if isinstance(anastomoses, bool) or not isinstance(anastomoses, int):
        errors["anastomoses"] = ["must be a whole number"]
    elif not MIN_ANASTOMOSES <= anastomoses <= MAX_ANASTOMOSES:
        errors["anastomoses"] = [
            f"{anastomoses} is impossible: a graft needs {MIN_ANASTOMOSES} to {MAX_ANASTOMOSES} biliary anastomoses"
        ]
    if technique:
        if technique not in TECHNIQUE_COUNTS:
            errors["technique"] = [f"unknown technique '{technique}' (one of: {', '.join(TECHNIQUE_COUNTS)})"]
        elif "anastomoses" not in errors and TECHNIQUE_COUNTS[technique] not in (None, anastomoses):
            errors["technique"] = [f"'{technique}' joins {TECHNIQUE_COUNTS[technique]} duct(s), not {anastomoses}"]
    return errors


def operation_date_errors(
    operated_on: object, *, decided_on: datetime.date | None, today: datetime.date
) -> dict[str, list[str]]:
    """The operation date is required, a plausible past date, and not before the team's decision."""
    if operated_on in (None, ""):
        return {"operated_on": ["the operation date is required"]}
    reason = past_event_date_error(operated_on, today=today)
    # No reason: `operated_on` is a date (the isinstance check only tells the type checker).
    if (
        reason is None
        and decided_on is not None
        and isinstance(operated_on, datetime.date)
        and operated_on < decided_on
    ):
        reason = (
            f"{operated_on.isoformat()} is before the team's decision ({decided_on.isoformat()}): "
            "the operation follows the decision"
        )
    return {"operated_on": [reason]} if reason else {}
