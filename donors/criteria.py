"""Donor workup checks as pure functions over plain values.

Every check answers pass / borderline / fail / missing against a per-centre
threshold and says where that threshold comes from (docs/spec/donor-workup.md),
so a suitability report can state exactly which rules it applied.  A check whose
inputs are absent is "missing", never "pass": an unrecorded value must not look
like a good one.  Steatosis measures are kept on their own scales: a PDFF, a
dual-echo signal fat fraction, a CT attenuation index and a biopsy percentage
are each judged by their own thresholds and never converted into one another.

Threshold choices not fixed by the workup document:
- GV/SLV (graft volume over the recipient's standard liver volume): pass >= 40 %,
  borderline 35-40 %, fail < 35 %, a common default to be set per centre.
- Remnant: fail below the minimum (30 %); borderline within a margin above it
  (default 5 points, i.e. 30-35 %, the value some centres require); pass above.
- Portal vein Nakamura D/E: borderline ("a common reason to reject"), not fail;
  the team decides.
- Hepatic artery: pass once a Michels type is recorded; for a left graft a
  missing segment 4 artery origin, or one from the right hepatic artery for a
  left lobe graft, is borderline.
"""

from __future__ import annotations

import math
from decimal import Decimal
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping

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
    bmi_min: float = _setting(18.5, "bmi", "BMI below this fails (kg/m2; WHO underweight)")
    bmi_max: float = _setting(30, "bmi", "highest BMI with a biopsy (kg/m2)")
    bmi_max_without_biopsy: float = _setting(28, "bmi", "highest BMI without a biopsy (kg/m2)")
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
            ("age_min", "age_max"), ("bmi_min", "bmi_max_without_biopsy"), ("bmi_max_without_biopsy", "bmi_max"),
            ("grwr_fail_below", "grwr_pass"), ("gv_slv_fail_below", "gv_slv_pass"),
            ("biopsy_ideal_below", "biopsy_reject_above"), ("pdff_flag", "pdff_reject"),
            ("dual_echo_flag", "dual_echo_reject"), ("ct_lai_fail_below", "ct_lai_pass_above"),
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


# ---------------------------------------------------------------- formulas

def bmi(weight_kg: float, height_cm: float) -> float:
    """Body mass index, kg/m2."""
    metres = height_cm / 100
    return weight_kg / (metres * metres)


def bsa_mosteller(height_cm: float, weight_kg: float) -> float:
    """Body surface area (m2), Mosteller: sqrt(height cm x weight kg / 3600)."""
    return math.sqrt(height_cm * weight_kg / 3600)


def bsa_dubois(height_cm: float, weight_kg: float) -> float:
    """Body surface area (m2), DuBois: 0.007184 x weight^0.425 x height^0.725."""
    return 0.007184 * weight_kg**0.425 * height_cm**0.725


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


def apri(ast: float, ast_uln: float, platelets: float) -> float:
    """AST to platelet ratio index; platelets in 10^9/L."""
    return ast / ast_uln / platelets * 100


def fib4(age: float, ast: float, alt: float, platelets: float) -> float:
    """FIB-4 = age x AST / (platelets x sqrt(ALT)); platelets in 10^9/L."""
    return age * ast / (platelets * math.sqrt(alt))


def signal_fat_fraction(ip: float, op: float) -> float:
    """Dual-echo signal fat fraction (IP - OP) / (2 x IP), as a fraction (0-0.5)."""
    if ip <= 0:
        raise ValueError("in-phase signal must be positive")
    return (ip - op) / (2 * ip)


def liver_attenuation_index(liver_hu: float, spleen_hu: float) -> float:
    """Unenhanced CT liver attenuation index: liver HU - spleen HU."""
    return liver_hu - spleen_hu


def abo_compatibility(donor: str, recipient: str) -> str:
    """"identical", "compatible" or "incompatible" by red-cell transfusion rules."""
    donor, recipient = donor.strip().upper(), recipient.strip().upper()
    for group in (donor, recipient):
        if group not in ABO_GROUPS:
            raise ValueError(f"unknown ABO group {group!r}")
    if donor == recipient:
        return "identical"
    if donor == "O" or recipient == "AB":
        return "compatible"
    return "incompatible"


# ---------------------------------------------------------------- helpers

def _near(x: float) -> float:
    """Drop float noise (0.1 + 0.2) before comparing with a threshold."""
    return round(x, 9)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _missing(check: str, unit: str, threshold: str, what: str) -> CheckResult:
    return CheckResult(check, "missing", None, unit, threshold, SOURCES[check], f"not recorded: {what}")


def _absent(*values: Any) -> bool:
    return any(v is None for v in values)


def _uncomputable(check: str, unit: str, threshold: str, why: str) -> CheckResult:
    """Inputs present but the formula is undefined (a zero divisor): not a pass either."""
    return CheckResult(check, "missing", None, unit, threshold, SOURCES[check], f"cannot compute: {why}")


def _band_text(flag: float, reject: float, unit: str) -> str:
    flag_text, reject_text = f"{_fmt(flag)} {unit}", f"{_fmt(reject)} {unit}"
    return f"< {flag_text} pass; {flag_text} to < {reject_text} borderline; >= {reject_text} fail"


def _three_band(check: str, value: float, unit: str, flag: float, reject: float,
                label: str, digits: int = 1) -> CheckResult:
    """pass below flag, borderline from flag, fail from reject."""
    threshold = _band_text(flag, reject, unit)
    shown = round(value, digits)
    if _near(value) >= reject:
        state, detail = "fail", f"{label} {shown} {unit} at or above the reject value {_fmt(reject)}"
    elif _near(value) >= flag:
        state, detail = "borderline", f"{label} {shown} {unit} flagged (>= {_fmt(flag)})"
    else:
        state, detail = "pass", f"{label} {shown} {unit}"
    return CheckResult(check, state, shown, unit, threshold, SOURCES[check], detail)


# ---------------------------------------------------------------- checks

def check_age(age: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    t = thresholds
    threshold = f"{_fmt(t.age_min)} to {_fmt(t.age_max)} years"
    if age is None:
        return _missing("age", "years", threshold, "donor age")
    state = "pass" if t.age_min <= age <= t.age_max else "fail"
    detail = f"age {_fmt(age)}" + ("" if state == "pass" else f" outside {threshold}")
    return CheckResult("age", state, float(age), "years", threshold, SOURCES["age"], detail)


def check_bmi(weight_kg: float | None, height_cm: float | None, biopsy_done: bool | None = None,
              thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Below bmi_min fails (underweight); up to bmi_max_without_biopsy passes; above it a biopsy
    is needed up to bmi_max.

    An unknown biopsy status counts as "not done" (the stricter limit).
    """
    t = thresholds
    threshold = (f"{_fmt(t.bmi_min)} to {_fmt(t.bmi_max)} kg/m2 "
                 f"(<= {_fmt(t.bmi_max_without_biopsy)} without biopsy)")
    if _absent(weight_kg, height_cm):
        return _missing("bmi", "kg/m2", threshold, "donor weight and height")
    if height_cm <= 0:
        return _uncomputable("bmi", "kg/m2", threshold, "height must be positive")
    value = bmi(weight_kg, height_cm)
    shown = round(value, 1)
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
    return CheckResult("bmi", state, shown, "kg/m2", threshold, SOURCES["bmi"], detail)


def check_abo(donor: str | None, recipient: str | None, desensitisation_plan: bool | None = None,
              thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    threshold = "identical or compatible; incompatible only with a desensitisation plan"
    if _absent(donor, recipient):
        return _missing("abo", "", threshold, "donor and recipient ABO groups")
    match = abo_compatibility(donor, recipient)
    pair = f"donor {donor} to recipient {recipient}"
    if match != "incompatible":
        state, detail = "pass", f"{pair}: {match}"
    elif desensitisation_plan:
        state, detail = "borderline", f"{pair}: incompatible, desensitisation planned"
    else:
        state, detail = "fail", f"{pair}: incompatible, no desensitisation plan"
    return CheckResult("abo", state, match, "", threshold, SOURCES["abo"], detail)


def check_grwr(graft_volume_ml: float | None, recipient_weight_kg: float | None,
               thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    t = thresholds
    threshold = f">= {_fmt(t.grwr_pass)} % (borderline from {_fmt(t.grwr_fail_below)} %)"
    if _absent(graft_volume_ml, recipient_weight_kg):
        return _missing("grwr", "%", threshold, "graft volume and recipient weight")
    if recipient_weight_kg <= 0:
        return _uncomputable("grwr", "%", threshold, "recipient weight must be positive")
    grams = graft_weight_g(graft_volume_ml, t.graft_density)
    value = grwr_percent(grams, recipient_weight_kg)
    shown = round(value, 2)
    basis = (f"graft {_fmt(round(grams, 1))} g (CT {_fmt(graft_volume_ml)} mL x density "
             f"{_fmt(t.graft_density)}) / recipient {_fmt(recipient_weight_kg)} kg")
    if _near(value) >= t.grwr_pass:
        state = "pass"
    elif _near(value) >= t.grwr_fail_below:
        state = "borderline"
    else:
        state = "fail"
    return CheckResult("grwr", state, shown, "%", threshold, SOURCES["grwr"], f"GRWR {shown} %: {basis}")


def check_gv_slv(graft_volume_ml: float | None, recipient_height_cm: float | None,
                 recipient_weight_kg: float | None,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Graft volume as % of the recipient's standard liver volume."""
    t = thresholds
    threshold = f">= {_fmt(t.gv_slv_pass)} % (borderline from {_fmt(t.gv_slv_fail_below)} %)"
    if _absent(graft_volume_ml, recipient_height_cm, recipient_weight_kg):
        return _missing("gv_slv", "%", threshold, "graft volume and recipient height and weight")
    if recipient_height_cm <= 0 or recipient_weight_kg <= 0:
        return _uncomputable("gv_slv", "%", threshold, "recipient height and weight must be positive")
    bsa = body_surface_area(recipient_height_cm, recipient_weight_kg, t.bsa_formula)
    slv = standard_liver_volume(bsa, t.slv_formula)
    if slv <= 0:
        return _uncomputable("gv_slv", "%", threshold,
                             f"standard liver volume not positive for BSA {bsa:.2f} m2 ({t.slv_formula})")
    value = graft_volume_ml / slv * 100
    shown = round(value, 1)
    if _near(value) >= t.gv_slv_pass:
        state = "pass"
    elif _near(value) >= t.gv_slv_fail_below:
        state = "borderline"
    else:
        state = "fail"
    detail = (f"graft {_fmt(graft_volume_ml)} mL / recipient SLV {slv:.0f} mL "
              f"({t.slv_formula}, BSA {bsa:.2f} m2 by {t.bsa_formula})")
    return CheckResult("gv_slv", state, shown, "%", threshold, SOURCES["gv_slv"], detail)


def check_remnant(remnant_volume_ml: float | None, total_liver_volume_ml: float | None,
                  graft_volume_ml: float | None = None,
                  thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Remnant share of the total liver; derived as total - graft when not given."""
    t = thresholds
    upper = t.remnant_min + t.remnant_margin
    threshold = f">= {_fmt(t.remnant_min)} % (borderline below {_fmt(upper)} %)"
    derived = remnant_volume_ml is None and not _absent(total_liver_volume_ml, graft_volume_ml)
    if derived:
        remnant_volume_ml = total_liver_volume_ml - graft_volume_ml
    if _absent(remnant_volume_ml, total_liver_volume_ml):
        return _missing("remnant", "%", threshold, "remnant (or graft) and total liver volume")
    if total_liver_volume_ml <= 0:
        return _uncomputable("remnant", "%", threshold, "total liver volume must be positive")
    value = remnant_percent(remnant_volume_ml, total_liver_volume_ml)
    shown = round(value, 1)
    if _near(value) < t.remnant_min:
        state = "fail"
    elif _near(value) < upper:
        state = "borderline"
    else:
        state = "pass"
    how = " (total - graft)" if derived else ""
    detail = f"remnant {_fmt(remnant_volume_ml)} mL{how} of {_fmt(total_liver_volume_ml)} mL"
    return CheckResult("remnant", state, shown, "%", threshold, SOURCES["remnant"], detail)


def check_biopsy_steatosis(macrovesicular_pct: float | None,
                           thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    t = thresholds
    threshold = (f"< {_fmt(t.biopsy_ideal_below)} % pass; > {_fmt(t.biopsy_reject_above)} % fail "
                 "(macrovesicular, biopsy)")
    if macrovesicular_pct is None:
        return _missing("steatosis_biopsy", "%", threshold, "biopsy macrovesicular steatosis")
    value = float(macrovesicular_pct)
    if value > t.biopsy_reject_above:
        state = "fail"
    elif value >= t.biopsy_ideal_below:
        state = "borderline"
    else:
        state = "pass"
    return CheckResult("steatosis_biopsy", state, value, "%", threshold, SOURCES["steatosis_biopsy"],
                       f"biopsy macrovesicular steatosis {_fmt(value)} %")


def check_pdff(pdff_pct: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    t = thresholds
    if pdff_pct is None:
        return _missing("steatosis_pdff", "%", _band_text(t.pdff_flag, t.pdff_reject, "%"), "MRI-PDFF")
    return _three_band("steatosis_pdff", float(pdff_pct), "%", t.pdff_flag, t.pdff_reject, "MRI-PDFF")


def check_dual_echo(in_phase: float | None, opposed_phase: float | None,
                    thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Dual-echo signal fat fraction in %; a signal ratio, not a PDFF."""
    t = thresholds
    threshold = _band_text(t.dual_echo_flag, t.dual_echo_reject, "%")
    if _absent(in_phase, opposed_phase):
        return _missing("steatosis_dual_echo", "%", threshold, "in-phase and opposed-phase signal")
    if in_phase <= 0:
        return _uncomputable("steatosis_dual_echo", "%", threshold, "in-phase signal must be positive")
    value = signal_fat_fraction(in_phase, opposed_phase) * 100
    return _three_band("steatosis_dual_echo", value, "%", t.dual_echo_flag, t.dual_echo_reject,
                       "dual-echo signal fat fraction")


def check_ct_steatosis(liver_hu: float | None, spleen_hu: float | None,
                       thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    t = thresholds
    threshold = (f"> {_fmt(t.ct_lai_pass_above)} HU pass; {_fmt(t.ct_lai_fail_below)} to "
                 f"{_fmt(t.ct_lai_pass_above)} HU borderline; < {_fmt(t.ct_lai_fail_below)} HU fail")
    if _absent(liver_hu, spleen_hu):
        return _missing("steatosis_ct", "HU", threshold, "unenhanced liver and spleen attenuation")
    value = liver_attenuation_index(liver_hu, spleen_hu)
    shown = round(value, 1)
    if _near(value) > t.ct_lai_pass_above:
        state = "pass"
    elif _near(value) >= t.ct_lai_fail_below:
        state = "borderline"
    else:
        state = "fail"
    detail = f"liver attenuation index {shown} HU (liver {_fmt(liver_hu)} - spleen {_fmt(spleen_hu)})"
    return CheckResult("steatosis_ct", state, shown, "HU", threshold, SOURCES["steatosis_ct"], detail)


def check_apri(ast: float | None, ast_uln: float | None, platelets: float | None,
               thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """APRI is a flag, never a fail."""
    t = thresholds
    threshold = f"> {_fmt(t.apri_flag_above)} flagged"
    if _absent(ast, ast_uln, platelets):
        return _missing("apri", "", threshold, "AST, its upper limit of normal and platelets")
    if ast_uln <= 0 or platelets <= 0:
        return _uncomputable("apri", "", threshold, "upper limit and platelets must be positive")
    value = apri(ast, ast_uln, platelets)
    shown = round(value, 2)
    state = "borderline" if _near(value) > t.apri_flag_above else "pass"
    detail = f"APRI {shown} (AST {_fmt(ast)}, upper limit {_fmt(ast_uln)}, platelets {_fmt(platelets)})"
    return CheckResult("apri", state, shown, "", threshold, SOURCES["apri"], detail)


def check_fib4(age: float | None, ast: float | None, alt: float | None, platelets: float | None,
               thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """FIB-4 is a flag only: it is validated in patients, not in healthy donors."""
    t = thresholds
    threshold = f">= {_fmt(t.fib4_flag)} flagged"
    if _absent(age, ast, alt, platelets):
        return _missing("fib4", "", threshold, "age, AST, ALT and platelets")
    if alt <= 0 or platelets <= 0:
        return _uncomputable("fib4", "", threshold, "ALT and platelets must be positive")
    value = fib4(age, ast, alt, platelets)
    shown = round(value, 2)
    state = "borderline" if _near(value) >= t.fib4_flag else "pass"
    return CheckResult("fib4", state, shown, "", threshold, SOURCES["fib4"], f"FIB-4 {shown} (flag only)")


def check_hepatic_veins(v5_mm: float | None, v8_mm: float | None, inferior_right_mm: float | None,
                        mhv_with_graft: bool | None = None,
                        thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Veins at or above the limit need reconstruction: borderline with the list.

    Record 0 for a vein that is absent; an unrecorded vein keeps the check
    "missing" unless another one already needs reconstruction.
    """
    t = thresholds
    threshold = f"reconstruct if >= {_fmt(t.vein_reconstruct_mm)} mm"
    veins = {"V5": v5_mm, "V8": v8_mm, "inferior right hepatic vein": inferior_right_mm}
    large = [f"{name} {_fmt(mm)} mm" for name, mm in veins.items()
             if mm is not None and _near(mm) >= t.vein_reconstruct_mm]
    unrecorded = [name for name, mm in veins.items() if mm is None]
    mhv = {True: "; MHV with the graft", False: "; MHV stays with the donor", None: ""}[mhv_with_graft]
    largest = max((mm for mm in veins.values() if mm is not None), default=None)
    if large:
        return CheckResult("hepatic_veins", "borderline", float(largest), "mm", threshold,
                           SOURCES["hepatic_veins"], "reconstruct " + ", ".join(large) + mhv)
    if unrecorded:
        return _missing("hepatic_veins", "mm", threshold, ", ".join(unrecorded))
    return CheckResult("hepatic_veins", "pass", float(largest), "mm", threshold, SOURCES["hepatic_veins"],
                       f"no vein >= {_fmt(t.vein_reconstruct_mm)} mm" + mhv)


def check_portal_vein(scheme: str | None, portal_type: str | None,
                      thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """A flagged type is borderline, "a common reason to reject"; the team decides."""
    flagged = ", ".join(thresholds.portal_vein_flag_types) or "none"
    threshold = f"flagged types: {flagged}"
    if _absent(scheme, portal_type):
        return _missing("portal_vein", "", threshold, "portal vein scheme and type")
    scheme = scheme.strip().lower()
    if scheme not in PORTAL_SCHEMES:
        raise ValueError(f"unknown portal vein scheme {scheme!r}")
    portal_type = portal_type.strip().upper()
    if portal_type not in PORTAL_SCHEMES[scheme]:
        raise ValueError(f"unknown {scheme} portal vein type {portal_type!r}")
    label = f"{scheme.capitalize()} {portal_type}"
    if f"{scheme}:{portal_type}" in thresholds.portal_vein_flag_types:
        state, detail = "borderline", f"{label}: a common reason to reject"
    else:
        state, detail = "pass", f"{label} recorded"
    return CheckResult("portal_vein", state, label, "", threshold, SOURCES["portal_vein"], detail)


def check_hepatic_artery(michels_type: str | None, graft: str | None = None,
                         segment4_origin: str | None = None, note: str = "",
                         thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Recorded anatomy passes; a left graft also needs the segment 4 artery origin."""
    threshold = "Michels type recorded; segment 4 artery origin for a left graft"
    if michels_type is None:
        return _missing("hepatic_artery", "", threshold, "Michels type")
    michels_type = michels_type.strip()
    if michels_type.upper() in MICHELS_TYPES:
        michels_type = michels_type.upper()
    if michels_type not in MICHELS_TYPES:
        raise ValueError(f"unknown Michels type {michels_type!r}")
    if graft is not None and graft not in GRAFTS:
        raise ValueError(f"unknown graft {graft!r}")
    if segment4_origin is not None and segment4_origin not in A4_ORIGINS:
        raise ValueError(f"unknown segment 4 artery origin {segment4_origin!r}")
    label = "unclassified" if michels_type == "unclassified" else f"Michels {michels_type}"
    detail = label + (f" ({note.strip()})" if note.strip() else "")
    state = "pass"
    if graft in LEFT_GRAFTS:
        if segment4_origin is None:
            state, detail = "borderline", detail + "; segment 4 artery origin not recorded (left graft)"
        else:
            detail += f"; segment 4 artery from the {segment4_origin.replace('_', ' ')} artery"
            if graft == "left_lobe" and segment4_origin == "right_hepatic":
                state, detail = "borderline", detail + ": separate reconstruction for the graft"
    return CheckResult("hepatic_artery", state, label, "", threshold, SOURCES["hepatic_artery"], detail)


def check_biliary_type(proposed_type: str | None,
                       thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Type 3 fails by the study's rule; an override is recorded elsewhere with its reason."""
    threshold = "type 1 pass; type 2 borderline; type 3 fail"
    if proposed_type is None:
        return _missing("biliary", "", threshold, "proposed biliary type")
    proposed_type = str(proposed_type).strip()
    states = {"1": ("pass", "one duct >= 5 mm: one anastomosis expected"),
              "2": ("borderline", "may need an additional anastomosis"),
              "3": ("fail", "three or more ducts: not suitable by the study's rule")}
    if proposed_type not in states:
        raise ValueError(f"unknown proposed biliary type {proposed_type!r}")
    state, words = states[proposed_type]
    return CheckResult("biliary", state, proposed_type, "", threshold, SOURCES["biliary"],
                       f"proposed type {proposed_type}: {words}")


# ---------------------------------------------------------------- whole workup

@dataclass(frozen=True)
class WorkupInputs:
    """Plain recorded values; None means not recorded. Units are in the names."""

    donor_age: float | None = None
    donor_sex: str | None = None
    donor_height_cm: float | None = None
    donor_weight_kg: float | None = None
    donor_abo: str | None = None
    recipient_abo: str | None = None
    recipient_height_cm: float | None = None
    recipient_weight_kg: float | None = None
    abo_desensitisation_plan: bool | None = None
    ast: float | None = None            # U/L
    alt: float | None = None            # U/L
    ast_uln: float | None = None        # U/L, the laboratory's upper limit
    platelets: float | None = None      # 10^9/L
    graft: str | None = None
    total_liver_volume_ml: float | None = None
    graft_volume_ml: float | None = None
    remnant_volume_ml: float | None = None
    biopsy_done: bool | None = None
    biopsy_macrovesicular_pct: float | None = None
    pdff_pct: float | None = None
    dual_echo_in_phase: float | None = None
    dual_echo_opposed_phase: float | None = None
    ct_liver_hu: float | None = None
    ct_spleen_hu: float | None = None
    hepatic_artery_michels: str | None = None
    hepatic_artery_note: str = ""
    segment4_artery_origin: str | None = None
    portal_vein_scheme: str | None = None
    portal_vein_type: str | None = None
    mhv_with_graft: bool | None = None
    v5_mm: float | None = None
    v8_mm: float | None = None
    inferior_right_hv_mm: float | None = None
    biliary_type: str | None = None

    def __post_init__(self) -> None:
        # Model fields arrive as Decimal; the formulas mix them with float constants.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                object.__setattr__(self, f.name, float(value))


def evaluate_workup(inputs: WorkupInputs, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[CheckResult]:
    """Every check in report order; the team picks which steatosis modality decides."""
    i, t = inputs, thresholds
    return [
        check_age(i.donor_age, t),
        check_bmi(i.donor_weight_kg, i.donor_height_cm, i.biopsy_done, t),
        check_abo(i.donor_abo, i.recipient_abo, i.abo_desensitisation_plan, t),
        check_grwr(i.graft_volume_ml, i.recipient_weight_kg, t),
        check_gv_slv(i.graft_volume_ml, i.recipient_height_cm, i.recipient_weight_kg, t),
        check_remnant(i.remnant_volume_ml, i.total_liver_volume_ml, i.graft_volume_ml, t),
        check_biopsy_steatosis(i.biopsy_macrovesicular_pct, t),
        check_pdff(i.pdff_pct, t),
        check_dual_echo(i.dual_echo_in_phase, i.dual_echo_opposed_phase, t),
        check_ct_steatosis(i.ct_liver_hu, i.ct_spleen_hu, t),
        check_apri(i.ast, i.ast_uln, i.platelets, t),
        check_fib4(i.donor_age, i.ast, i.alt, i.platelets, t),
        check_hepatic_veins(i.v5_mm, i.v8_mm, i.inferior_right_hv_mm, i.mhv_with_graft, t),
        check_portal_vein(i.portal_vein_scheme, i.portal_vein_type, t),
        check_hepatic_artery(i.hepatic_artery_michels, i.graft, i.segment4_artery_origin,
                             i.hepatic_artery_note, t),
        check_biliary_type(i.biliary_type, t),
    ]


# ---------------------------------------------------------------- plausibility

@dataclass(frozen=True)
class Range:
    low: float
    high: float
    unit: str
    low_open: bool = False   # True: the value must be strictly above low
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
    "platelets": Range(0, 2000, "x10^9/L", low_open=True),
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
