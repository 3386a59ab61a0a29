"""Steatosis, each measure on its own scale: biopsy, MRI-PDFF, dual-echo signal fat fraction and
the unenhanced CT liver attenuation index are never converted into one another."""

from __future__ import annotations

from .common import (
    DEFAULT_THRESHOLDS,
    SOURCES,
    CheckResult,
    State,
    Thresholds,
    _band_text,
    _fmt,
    _missing,
    _near,
    _three_band,
    _uncomputable,
)


def signal_fat_fraction(ip: float, op: float) -> float:
    """Dual-echo signal fat fraction (IP - OP) / (2 x IP), as a fraction (0-0.5)."""
    if ip <= 0:
        raise ValueError("in-phase signal must be positive")
    return (ip - op) / (2 * ip)


def liver_attenuation_index(liver_hu: float, spleen_hu: float) -> float:
    """Unenhanced CT liver attenuation index: liver HU - spleen HU."""
    return liver_hu - spleen_hu


def check_biopsy_steatosis(
    macrovesicular_pct: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> CheckResult:
    t = thresholds
    threshold = (
        f"< {_fmt(t.biopsy_ideal_below)} % pass; > {_fmt(t.biopsy_reject_above)} % fail (macrovesicular, biopsy)"
    )
    if macrovesicular_pct is None:
        return _missing("steatosis_biopsy", "%", threshold, "biopsy macrovesicular steatosis")
    value = float(macrovesicular_pct)
    state: State
    if value > t.biopsy_reject_above:
        state = "fail"
    elif value >= t.biopsy_ideal_below:
        state = "borderline"
    else:
        state = "pass"
    return CheckResult(
        "steatosis_biopsy",
        state,
        value,
        "%",
        threshold,
        SOURCES["steatosis_biopsy"],
        f"biopsy macrovesicular steatosis {_fmt(value)} %",
    )


def check_pdff(pdff_pct: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    t = thresholds
    if pdff_pct is None:
        return _missing("steatosis_pdff", "%", _band_text(t.pdff_flag, t.pdff_reject, "%"), "MRI-PDFF")
    return _three_band("steatosis_pdff", float(pdff_pct), "%", t.pdff_flag, t.pdff_reject, "MRI-PDFF")


def check_dual_echo(
    in_phase: float | None, opposed_phase: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> CheckResult:
    """Dual-echo signal fat fraction in %; a signal ratio, not a PDFF."""
    t = thresholds
    threshold = _band_text(t.dual_echo_flag, t.dual_echo_reject, "%")
    if in_phase is None or opposed_phase is None:
        return _missing("steatosis_dual_echo", "%", threshold, "in-phase and opposed-phase signal")
    if in_phase <= 0:
        return _uncomputable("steatosis_dual_echo", "%", threshold, "in-phase signal must be positive")
    value = signal_fat_fraction(in_phase, opposed_phase) * 100
    return _three_band(
        "steatosis_dual_echo", value, "%", t.dual_echo_flag, t.dual_echo_reject, "dual-echo signal fat fraction"
    )


def check_ct_steatosis(
    liver_hu: float | None, spleen_hu: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> CheckResult:
    t = thresholds
    threshold = (
        f"> {_fmt(t.ct_lai_pass_above)} HU pass; {_fmt(t.ct_lai_fail_below)} to "
        f"{_fmt(t.ct_lai_pass_above)} HU borderline; < {_fmt(t.ct_lai_fail_below)} HU fail"
    )
    if liver_hu is None or spleen_hu is None:
        return _missing("steatosis_ct", "HU", threshold, "unenhanced liver and spleen attenuation")
    value = liver_attenuation_index(liver_hu, spleen_hu)
    shown = round(value, 1)
    state: State
    if _near(value) > t.ct_lai_pass_above:
        state = "pass"
    elif _near(value) >= t.ct_lai_fail_below:
        state = "borderline"
    else:
        state = "fail"
    detail = f"liver attenuation index {shown} HU (liver {_fmt(liver_hu)} - spleen {_fmt(spleen_hu)})"
    return CheckResult("steatosis_ct", state, shown, "HU", threshold, SOURCES["steatosis_ct"], detail)
