"""Anthropometry and volumetry: age, BMI, blood group, and the graft and remnant volumes
(GRWR, GV/SLV, remnant share)."""

from __future__ import annotations

import math

from donors.measures import bmi as bmi  # the donor record derives it too; re-exported by workup.criteria

from .common import (
    ABO_GROUPS,
    DEFAULT_THRESHOLDS,
    SOURCES,
    CheckResult,
    State,
    Thresholds,
    _fmt,
    _missing,
    _near,
    _uncomputable,
)


def bsa_mosteller(height_cm: float, weight_kg: float) -> float:
    """Body surface area (m2), Mosteller: sqrt(height cm x weight kg / 3600)."""
    return math.sqrt(height_cm * weight_kg / 3600)


def bsa_dubois(height_cm: float, weight_kg: float) -> float:
    """Body surface area (m2), DuBois: 0.007184 x weight^0.425 x height^0.725."""
    # float ** float is typed Any (a negative base gives a complex); the weight and height are positive.
    area: float = 0.007184 * weight_kg**0.425 * height_cm**0.725
    return area


def body_surface_area(height_cm: float, weight_kg: float, formula: str = "mosteller") -> float:
    if formula == "mosteller":
        return bsa_mosteller(height_cm, weight_kg)
    if formula == "dubois":
        return bsa_dubois(height_cm, weight_kg)
    raise ValueError(f"unknown BSA formula {formula!r}")


def standard_liver_volume(bsa: float, formula: str = "urata") -> float:
    """Standard liver volume (mL) from body surface area (m2)."""
    if formula == "urata":
        return 706.2 * bsa + 2.4
    if formula == "vauthey":
        return 1267.28 * bsa - 794.41
    raise ValueError(f"unknown SLV formula {formula!r}")


def graft_weight_g(volume_ml: float, density: float = 1.0) -> float:
    """Estimated graft weight from CT volume; the factor used must be reported."""
    return volume_ml * density


def grwr_percent(graft_g: float, recipient_kg: float) -> float:
    """Graft-to-recipient weight ratio as %: graft g / recipient kg / 10."""
    return graft_g / recipient_kg / 10


def remnant_percent(remnant_ml: float, total_ml: float) -> float:
    return remnant_ml / total_ml * 100


def abo_compatibility(donor: str, recipient: str) -> str:
    """ "identical", "compatible" or "incompatible" by red-cell transfusion rules."""
    donor, recipient = donor.strip().upper(), recipient.strip().upper()
    for group in (donor, recipient):
        if group not in ABO_GROUPS:
            raise ValueError(f"unknown ABO group {group!r}")
    if donor == recipient:
        return "identical"
    if donor == "O" or recipient == "AB":
        return "compatible"
    return "incompatible"


def check_age(age: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    t = thresholds
    threshold = f"{_fmt(t.age_min)} to {_fmt(t.age_max)} years"
    if age is None:
        return _missing("age", "years", threshold, "donor age")
    state: State = "pass" if t.age_min <= age <= t.age_max else "fail"
    detail = f"age {_fmt(age)}" + ("" if state == "pass" else f" outside {threshold}")
    return CheckResult("age", state, float(age), "years", threshold, SOURCES["age"], detail)


def check_bmi(
    weight_kg: float | None,
    height_cm: float | None,
    biopsy_done: bool | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> CheckResult:
    """Below bmi_min fails (underweight); up to bmi_max_without_biopsy passes; above it a biopsy
    is needed up to bmi_max.

    An unknown biopsy status counts as "not done" (the stricter limit).
    """
    t = thresholds
    threshold = f"{_fmt(t.bmi_min)} to {_fmt(t.bmi_max)} kg/m² (<= {_fmt(t.bmi_max_without_biopsy)} without biopsy)"
    if weight_kg is None or height_cm is None:
        return _missing("bmi", "kg/m²", threshold, "donor weight and height")
    if height_cm <= 0:
        return _uncomputable("bmi", "kg/m²", threshold, "height must be positive")
    value = bmi(weight_kg, height_cm)
    shown = round(value, 1)
    state: State
    if _near(value) < t.bmi_min:
        state, detail = "fail", f"BMI {shown} below {_fmt(t.bmi_min)} (underweight)"
    elif _near(value) > t.bmi_max:
        state, detail = "fail", f"BMI {shown} above {_fmt(t.bmi_max)}"
    elif _near(value) <= t.bmi_max_without_biopsy:
        state, detail = "pass", f"BMI {shown}"
    elif biopsy_done:
        state, detail = "pass", f"BMI {shown}, acceptable with the biopsy done"
    else:
        state = "borderline"
        detail = f"BMI {shown} above {_fmt(t.bmi_max_without_biopsy)}: a biopsy is needed"
    return CheckResult("bmi", state, shown, "kg/m²", threshold, SOURCES["bmi"], detail)


def check_abo(
    donor: str | None,
    recipient: str | None,
    desensitisation_plan: bool | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> CheckResult:
    threshold = "identical or compatible; incompatible only with a desensitisation plan"
    if donor is None or recipient is None:
        return _missing("abo", "", threshold, "donor and recipient ABO groups")
    match = abo_compatibility(donor, recipient)
    pair = f"donor {donor} to recipient {recipient}"
    state: State
    if match != "incompatible":
        state, detail = "pass", f"{pair}: {match}"
    elif desensitisation_plan:
        state, detail = "borderline", f"{pair}: incompatible, desensitisation planned"
    else:
        state, detail = "fail", f"{pair}: incompatible, no desensitisation plan"
    return CheckResult("abo", state, match, "", threshold, SOURCES["abo"], detail)


def check_grwr(
    graft_volume_ml: float | None, recipient_weight_kg: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> CheckResult:
    t = thresholds
    threshold = f">= {_fmt(t.grwr_pass)} % (borderline from {_fmt(t.grwr_fail_below)} %)"
    if graft_volume_ml is None or recipient_weight_kg is None:
        return _missing("grwr", "%", threshold, "graft volume and recipient weight")
    if recipient_weight_kg <= 0:
        return _uncomputable("grwr", "%", threshold, "recipient weight must be positive")
    grams = graft_weight_g(graft_volume_ml, t.graft_density)
    value = grwr_percent(grams, recipient_weight_kg)
    shown = round(value, 2)
    basis = (
        f"graft {_fmt(round(grams, 1))} g (CT {_fmt(graft_volume_ml)} mL x density "
        f"{_fmt(t.graft_density)}) / recipient {_fmt(recipient_weight_kg)} kg"
    )
    state: State
    if _near(value) >= t.grwr_pass:
        state = "pass"
    elif _near(value) >= t.grwr_fail_below:
        state = "borderline"
    else:
        state = "fail"
    return CheckResult("grwr", state, shown, "%", threshold, SOURCES["grwr"], f"GRWR {shown} %: {basis}")


def check_gv_slv(
    graft_volume_ml: float | None,
    recipient_height_cm: float | None,
    recipient_weight_kg: float | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> CheckResult:
    """Graft volume as % of the recipient's standard liver volume."""
    t = thresholds
    threshold = f">= {_fmt(t.gv_slv_pass)} % (borderline from {_fmt(t.gv_slv_fail_below)} %)"
    if graft_volume_ml is None or recipient_height_cm is None or recipient_weight_kg is None:
        return _missing("gv_slv", "%", threshold, "graft volume and recipient height and weight")
    if recipient_height_cm <= 0 or recipient_weight_kg <= 0:
        return _uncomputable("gv_slv", "%", threshold, "recipient height and weight must be positive")
    bsa = body_surface_area(recipient_height_cm, recipient_weight_kg, t.bsa_formula)
    slv = standard_liver_volume(bsa, t.slv_formula)
    if slv <= 0:
        return _uncomputable(
            "gv_slv", "%", threshold, f"standard liver volume not positive for BSA {bsa:.2f} m2 ({t.slv_formula})"
        )
    value = graft_volume_ml / slv * 100
    shown = round(value, 1)
    state: State
    if _near(value) >= t.gv_slv_pass:
        state = "pass"
    elif _near(value) >= t.gv_slv_fail_below:
        state = "borderline"
    else:
        state = "fail"
    detail = (
        f"graft {_fmt(graft_volume_ml)} mL / recipient SLV {slv:.0f} mL "
        f"({t.slv_formula}, BSA {bsa:.2f} m2 by {t.bsa_formula})"
    )
    return CheckResult("gv_slv", state, shown, "%", threshold, SOURCES["gv_slv"], detail)


def check_remnant(
    remnant_volume_ml: float | None,
    total_liver_volume_ml: float | None,
    graft_volume_ml: float | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> CheckResult:
    """Remnant share of the total liver; derived as total - graft when not given."""
    t = thresholds
    upper = t.remnant_min + t.remnant_margin
    threshold = f">= {_fmt(t.remnant_min)} % (borderline below {_fmt(upper)} %)"
    derived = False
    if remnant_volume_ml is None and total_liver_volume_ml is not None and graft_volume_ml is not None:
        remnant_volume_ml = total_liver_volume_ml - graft_volume_ml
        derived = True
    if remnant_volume_ml is None or total_liver_volume_ml is None:
        return _missing("remnant", "%", threshold, "remnant (or graft) and total liver volume")
    if total_liver_volume_ml <= 0:
        return _uncomputable("remnant", "%", threshold, "total liver volume must be positive")
    value = remnant_percent(remnant_volume_ml, total_liver_volume_ml)
    shown = round(value, 1)
    state: State
    if _near(value) < t.remnant_min:
        state = "fail"
    elif _near(value) < upper:
        state = "borderline"
    else:
        state = "pass"
    how = " (total - graft)" if derived else ""
    detail = f"remnant {_fmt(remnant_volume_ml)} mL{how} of {_fmt(total_liver_volume_ml)} mL"
    return CheckResult("remnant", state, shown, "%", threshold, SOURCES["remnant"], detail)
