"""The biliary check: the proposed type of the final MRCP anatomy (Durur Karakaya et al. 2024)."""

from __future__ import annotations

from .common import DEFAULT_THRESHOLDS, SOURCES, CheckResult, State, Thresholds, _missing


def check_biliary_type(proposed_type: str | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Type 3 fails by the study's rule; an override is recorded elsewhere with its reason."""
    threshold = "type 1 pass; type 2 borderline; type 3 fail"
    if proposed_type is None:
        return _missing("biliary", "", threshold, "proposed biliary type")
    proposed_type = str(proposed_type).strip()
    states: dict[str, tuple[State, str]] = {
        "1": ("pass", "one duct >= 5 mm: one anastomosis expected"),
        "2": ("borderline", "may need an additional anastomosis"),
        "3": ("fail", "three or more ducts: not suitable by the study's rule"),
    }
    if proposed_type not in states:
        raise ValueError(f"unknown proposed biliary type {proposed_type!r}")
    state, words = states[proposed_type]
    return CheckResult(
        "biliary", state, proposed_type, "", threshold, SOURCES["biliary"], f"proposed type {proposed_type}: {words}"
    )
