"""Couinaud 1957 (types A-F), in the order tabulated by Smadja and Blumgart.

E1/E2 are not told apart (their definitions are not reliably sourced): both are
reported as `E`. Some series swap D1 and D2, so the printed labels come from a
mapping: pass `labels=SWAPPED_D_LABELS` (or any mapping of the same keys) to
print the other convention.
"""

from __future__ import annotations

from collections.abc import Mapping

from classification.anatomy import Anatomy
from classification.results import SystemResult
from classification.systems.common import Rule, classify_by_rules

ORDER = ("no_confluence", "rphd_cystic", "trifurcation", "rahd_chd", "rphd_chd", "rphd_left", "rahd_left", "typical")
LABELS: Mapping[str, str] = {
    "no_confluence": "E",
    "rphd_cystic": "F",
    "trifurcation": "B",
    "rahd_chd": "C1",
    "rphd_chd": "C2",
    "rphd_left": "D1",
    "rahd_left": "D2",
    "typical": "A",
}
SWAPPED_D_LABELS: Mapping[str, str] = {**LABELS, "rphd_left": "D2", "rahd_left": "D1"}
LOOKS_FOR = (
    "no confluence, RPHD into the cystic duct, a trifurcation, RAHD or RPHD into the CHD below the "
    "confluence, RPHD or RAHD into the left system, or the typical confluence"
)


def classify(anatomy: Anatomy, *, labels: Mapping[str, str] = LABELS) -> SystemResult:
    rules = tuple(Rule(labels[predicate], predicate) for predicate in ORDER)
    return classify_by_rules(anatomy, system="couinaud", display="Couinaud", rules=rules, looks_for=LOOKS_FOR)
