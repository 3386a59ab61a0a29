"""Plausibility rules for demographic values. Pure: dict in, field errors out."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

HEIGHT_CM = (100, 230)
WEIGHT_KG = (30, 250)
DONOR_AGE = (16, 80)
RECIPIENT_AGE = (0, 90)
RECIPIENT_WEIGHT_KG = (2, 250)
# Below this age duct-to-duct reconstruction is not used: the duct is too small.
SMALL_CHILD_BELOW_AGE = 3
DIAGNOSES_WITHOUT_USABLE_DUCT = {"primary_sclerosing_cholangitis", "biliary_atresia"}


def _number(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _range_error(errors, field, value, low, high, unit) -> None:
    number = _number(value)
    if value is None:
        return
    if number is None:
        errors.setdefault(field, []).append("must be a number")
    elif not (low <= number <= high):
        errors.setdefault(field, []).append(f"{number} {unit} is outside the plausible range {low}-{high} {unit}")


# Dates of past events (examinations, samples, operations) are refused before this day.
EARLIEST_EVENT_DATE = datetime.date(1900, 1, 1)


def past_event_date_error(day, *, today: datetime.date) -> str | None:
    """Why `day` cannot be the date of an event that has happened, or None: it must be a date,
    on or after 1900-01-01 and not after today."""
    if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
        return "must be a date (YYYY-MM-DD)"
    if day < EARLIEST_EVENT_DATE:
        return f"{day.isoformat()} is before {EARLIEST_EVENT_DATE.isoformat()}: check the year"
    if day > today:
        return f"{day.isoformat()} is in the future"
    return None


def donor_errors(values: dict, *, today: datetime.date | None = None) -> dict[str, list[str]]:
    """Errors for the donor values present in `values` (a partial update checks only those)."""
    today = today or datetime.date.today()
    errors: dict[str, list[str]] = {}
    _range_error(errors, "height_cm", values.get("height_cm"), *HEIGHT_CM, "cm")
    _range_error(errors, "weight_kg", values.get("weight_kg"), *WEIGHT_KG, "kg")
    born = values.get("date_of_birth")
    if born is not None:
        if not isinstance(born, datetime.date):
            errors.setdefault("date_of_birth", []).append("must be a date (YYYY-MM-DD)")
        elif born > today:
            errors.setdefault("date_of_birth", []).append("is in the future")
        else:
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            if not DONOR_AGE[0] <= age <= DONOR_AGE[1]:
                errors.setdefault("date_of_birth", []).append(
                    f"gives an age of {age}, outside {DONOR_AGE[0]}-{DONOR_AGE[1]} years for a living donor"
                )
    for field in ("code", "mrn", "given_name", "family_name"):
        if field in values and not str(values[field] or "").strip():
            errors.setdefault(field, []).append("may not be blank")
    return errors


def recipient_errors(values: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    _range_error(errors, "age_years", values.get("age_years"), *RECIPIENT_AGE, "years")
    _range_error(errors, "weight_kg", values.get("weight_kg"), *RECIPIENT_WEIGHT_KG, "kg")
    if values.get("own_duct_usable"):
        if values.get("diagnosis") in DIAGNOSES_WITHOUT_USABLE_DUCT:
            errors.setdefault("own_duct_usable", []).append(
                "must be no: the recipient's own duct cannot be used with this diagnosis"
            )
        age = _number(values.get("age_years"))
        if age is not None and age < SMALL_CHILD_BELOW_AGE:
            errors.setdefault("own_duct_usable", []).append(
                f"must be no for a child under {SMALL_CHILD_BELOW_AGE} years"
            )
    if "code" in values and not str(values["code"] or "").strip():
        errors.setdefault("code", []).append("may not be blank")
    return errors
