"""What every workup check shares: the centre's thresholds with their sources, the result of a
check, the small helpers that word it, and the plausible range of each recorded value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Literal

State = Literal["pass", "borderline", "fail", "missing"]


Value = float | str | None

GRAFTS = ("right_lobe", "left_lateral_segment", "left_lobe")


LEFT_GRAFTS = ("left_lateral_segment", "left_lobe")


ABO_GROUPS = ("O", "A", "B", "AB")


MICHELS_TYPES = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "unclassified")


PORTAL_SCHEMES = {"nakamura": ("A", "B", "C", "D", "E"), "cheng": ("I", "II", "III", "IV")}


A4_ORIGINS = ("left_hepatic", "right_hepatic", "proper_hepatic", "other")

SOURCES: Mapping[str, str] = {
    "age": "textbook criteria; survey of 24 centres (median upper limit 60)",
    "bmi": "survey: median limit 33; textbook: 28 without biopsy; WHO: below 18.5 is underweight",
    "abo": "transfusion rules; ABO-incompatible LDLT needs a protocol",
    "grwr": "Liver Transpl 2003; 2019 worldwide survey",
    "graft_density": "CT volume x density factor (1.0; some use 0.85)",
    "gv_slv": "common default (40 %), set per centre",
    "remnant": "survey (30 % at 75 % of centres; 35 % at some)",
    "slv": "Urata 706.2 x BSA + 2.4; Vauthey 1267.28 x BSA - 794.41",
    "bsa": "Mosteller sqrt(h x w / 3600) or DuBois",
    "steatosis_biopsy": "centre dependent (< 10 % ideal, reject > 30 %)",
    "steatosis_pdff": "MRI-PDFF: flag >= 5 %, reject per centre; never converted to biopsy %",
    "steatosis_dual_echo": "dual-echo signal fat fraction (paediatric fatty sparing article)",
    "steatosis_ct": "Limanond, Radiology 2004",
    "apri": "APRI (AST/ULN)/platelets x 100; flag > 0.5",
    "fib4": "FIB-4 validated in patients, not donors: flag only",
    "hepatic_veins": "V5/V8/inferior right veins: reconstruct if >= 5 mm",
    "portal_vein": "Nakamura A-E (or Cheng I-IV); D/E a common reason to reject",
    "hepatic_artery": "Michels 1966; donor CT series (segment 4 artery origin)",
    "biliary": "Durur Karakaya et al., Diagn Interv Radiol 2024 (proposed types 1-3)",
}


def _setting(default: Any, source: str, help_text: str) -> Any:
    """A threshold field carrying its source and meaning for settings forms."""
    return field(default=default, metadata={"source": SOURCES[source], "help": help_text})


@dataclass(frozen=True)
class Thresholds:
    """One centre's thresholds; every default is the workup document's."""

    age_min: float = _setting(18, "age", "youngest donor age (years)")
    age_max: float = _setting(60, "age", "oldest donor age (years)")
    bmi_min: float = _setting(18.5, "bmi", "BMI below this fails (kg/m²; WHO underweight)")
    bmi_max: float = _setting(30, "bmi", "highest BMI with a biopsy (kg/m²)")
    bmi_max_without_biopsy: float = _setting(28, "bmi", "highest BMI without a biopsy (kg/m²)")
    grwr_pass: float = _setting(0.8, "grwr", "GRWR at or above this passes (%)")
    grwr_fail_below: float = _setting(0.7, "grwr", "GRWR below this fails (%)")
    gv_slv_pass: float = _setting(40, "gv_slv", "GV/SLV at or above this passes (%)")
    gv_slv_fail_below: float = _setting(35, "gv_slv", "GV/SLV below this fails (%)")
    remnant_min: float = _setting(30, "remnant", "remnant below this fails (%)")
    remnant_margin: float = _setting(5, "remnant", "points above the minimum still borderline")
    graft_density: float = _setting(1.0, "graft_density", "graft weight (g) per CT mL")
    slv_formula: str = _setting("urata", "slv", "standard liver volume: urata or vauthey")
    bsa_formula: str = _setting("mosteller", "bsa", "body surface area: mosteller or dubois")
    biopsy_ideal_below: float = _setting(10, "steatosis_biopsy", "macrovesicular % below this passes")
    biopsy_reject_above: float = _setting(30, "steatosis_biopsy", "macrovesicular % above this fails")
    pdff_flag: float = _setting(5, "steatosis_pdff", "PDFF % at or above this is borderline")
    pdff_reject: float = _setting(10, "steatosis_pdff", "PDFF % at or above this fails")
    dual_echo_flag: float = _setting(5, "steatosis_dual_echo", "signal fat fraction % flag")
    dual_echo_reject: float = _setting(10, "steatosis_dual_echo", "signal fat fraction % reject")
    ct_lai_pass_above: float = _setting(5, "steatosis_ct", "liver - spleen HU above this passes")
    ct_lai_fail_below: float = _setting(-10, "steatosis_ct", "liver - spleen HU below this fails")
    apri_flag_above: float = _setting(0.5, "apri", "APRI above this is flagged")
    fib4_flag: float = _setting(1.45, "fib4", "FIB-4 at or above this is flagged")
    vein_reconstruct_mm: float = _setting(5, "hepatic_veins", "vein diameter needing reconstruction (mm)")
    portal_vein_flag_types: tuple[str, ...] = _setting(
        ("nakamura:D", "nakamura:E"), "portal_vein", "scheme:type pairs flagged as borderline"
    )

    def __post_init__(self) -> None:
        if self.slv_formula not in ("urata", "vauthey"):
            raise ValueError(f"slv_formula: unknown formula {self.slv_formula!r}")
        if self.bsa_formula not in ("mosteller", "dubois"):
            raise ValueError(f"bsa_formula: unknown formula {self.bsa_formula!r}")
        ordered = [
            ("age_min", "age_max"),
            ("bmi_min", "bmi_max_without_biopsy"),
            ("bmi_max_without_biopsy", "bmi_max"),
            ("grwr_fail_below", "grwr_pass"),
            ("gv_slv_fail_below", "gv_slv_pass"),
            ("biopsy_ideal_below", "biopsy_reject_above"),
            ("pdff_flag", "pdff_reject"),
            ("dual_echo_flag", "dual_echo_reject"),
            ("ct_lai_fail_below", "ct_lai_pass_above"),
        ]
        for low, high in ordered:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high}")
        if self.graft_density <= 0:
            raise ValueError("graft_density must be positive")
        if self.remnant_margin < 0:
            raise ValueError("remnant_margin must not be negative")

    @classmethod
    def sources(cls) -> dict[str, str]:
        """Each threshold's source, for a report's "thresholds used" section."""
        return {f.name: f.metadata["source"] for f in fields(cls)}


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class CheckResult:
    check: str
    state: State
    value: Value
    unit: str
    threshold: str
    source: str
    detail: str


# ---------------------------------------------------------------- helpers


def _near(x: float) -> float:
    """Drop float noise (0.1 + 0.2) before comparing with a threshold."""
    return round(x, 9)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _missing(check: str, unit: str, threshold: str, what: str) -> CheckResult:
    return CheckResult(check, "missing", None, unit, threshold, SOURCES[check], f"not recorded: {what}")


def _uncomputable(check: str, unit: str, threshold: str, why: str) -> CheckResult:
    """Inputs present but the formula is undefined (a zero divisor): not a pass either."""
    return CheckResult(check, "missing", None, unit, threshold, SOURCES[check], f"cannot compute: {why}")


def _band_text(flag: float, reject: float, unit: str) -> str:
    flag_text, reject_text = f"{_fmt(flag)} {unit}", f"{_fmt(reject)} {unit}"
    return f"< {flag_text} pass; {flag_text} to < {reject_text} borderline; >= {reject_text} fail"


def _three_band(
    check: str, value: float, unit: str, flag: float, reject: float, label: str, digits: int = 1
) -> CheckResult:
    """pass below flag, borderline from flag, fail from reject."""
    threshold = _band_text(flag, reject, unit)
    shown = round(value, digits)
    state: State
    if _near(value) >= reject:
        state, detail = "fail", f"{label} {shown} {unit} at or above the reject value {_fmt(reject)}"
    elif _near(value) >= flag:
        state, detail = "borderline", f"{label} {shown} {unit} flagged (>= {_fmt(flag)})"
    else:
        state, detail = "pass", f"{label} {shown} {unit}"
    return CheckResult(check, state, shown, unit, threshold, SOURCES[check], detail)


# ---------------------------------------------------------------- plausibility


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    unit: str
    low_open: bool = False  # True: the value must be strictly above low
    high_open: bool = False  # True: the value must be strictly below high

    def reason(self, value: float) -> str | None:
        too_low = value <= self.low if self.low_open else value < self.low
        too_high = value >= self.high if self.high_open else value > self.high
        if not (too_low or too_high):
            return None
        low = f"above {_fmt(self.low)}" if self.low_open else f"at least {_fmt(self.low)}"
        high = f"below {_fmt(self.high)}" if self.high_open else f"at most {_fmt(self.high)}"
        return f"{_fmt(value)} is implausible: must be {low} and {high} {self.unit}".rstrip()


# Physiologically plausible ranges: wide enough for any real donor or recipient
# (recipients include small children), narrow enough to catch unit mistakes.
PLAUSIBLE_RANGES: Mapping[str, Range] = {
    "donor_age": Range(0, 100, "years"),
    "donor_height_cm": Range(100, 230, "cm"),
    "donor_weight_kg": Range(30, 250, "kg"),
    "recipient_height_cm": Range(40, 230, "cm"),
    "recipient_weight_kg": Range(2, 250, "kg"),
    "ast": Range(0, 10000, "U/L", high_open=True),
    "alt": Range(0, 10000, "U/L", high_open=True),
    "ast_uln": Range(0, 500, "U/L", low_open=True),
    "platelets": Range(0, 2000, "×10⁹/L", low_open=True),
    "total_liver_volume_ml": Range(500, 4000, "mL"),
    "graft_volume_ml": Range(50, 4000, "mL"),
    "remnant_volume_ml": Range(50, 4000, "mL"),
    "biopsy_macrovesicular_pct": Range(0, 100, "%"),
    "pdff_pct": Range(0, 100, "%"),
    "dual_echo_in_phase": Range(0, 100000, "(signal)", low_open=True),
    "dual_echo_opposed_phase": Range(0, 100000, "(signal)"),
    "ct_liver_hu": Range(-100, 150, "HU"),
    "ct_spleen_hu": Range(-100, 150, "HU"),
    "v5_mm": Range(0, 30, "mm"),
    "v8_mm": Range(0, 30, "mm"),
    "inferior_right_hv_mm": Range(0, 30, "mm"),
}


def validate_ranges(field_values: Mapping[str, Any]) -> dict[str, str]:
    """Map each implausible field to a reason a form or the API can show.

    None (not recorded) and fields without a known range are left alone.
    """
    problems: dict[str, str] = {}
    for name, value in field_values.items():
        rule = PLAUSIBLE_RANGES.get(name)
        if rule is None or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            problems[name] = f"{value!r} is not a number"
        elif not math.isfinite(float(value)):
            problems[name] = f"{value} is not a finite number"
        else:
            reason = rule.reason(float(value))
            if reason:
                problems[name] = reason
    return problems


# Abbreviations as the workup document spells them, for the names of the thresholds.
_THRESHOLD_WORDS = {
    "bmi": "BMI",
    "grwr": "GRWR",
    "gv": "GV",
    "slv": "SLV",
    "bsa": "BSA",
    "pdff": "PDFF",
    "ct": "CT",
    "lai": "liver attenuation index",
    "apri": "APRI",
    "fib4": "FIB-4",
    "mm": "(mm)",
}


def threshold_label(name: str) -> str:
    """A threshold's name in words: "gv_slv_fail_below" -> "GV / SLV fail below"."""
    words = [_THRESHOLD_WORDS.get(part, part) for part in name.replace("gv_slv", "gv/slv").split("_")]
    text = " ".join(" / ".join(_THRESHOLD_WORDS.get(p, p) for p in w.split("/")) for w in words)
    return text[:1].upper() + text[1:]
