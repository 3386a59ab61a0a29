"""Ohkubo 2004, right-side types A-F, reconstructed (every result is provisional).

Reconstructed from the Ohkubo 2004 abstract (seven right-side types, the RHD
absent in four) and the one-to-one match of the paper's Ohkubo and Choi counts.
Type G is not identified and the left-side types are not implemented, so such
donors are `unclassified`.
"""

from __future__ import annotations

from classification.anatomy import Anatomy
from classification.results import SystemResult
from classification.systems.common import Rule, classify_by_rules

RULES = (
    Rule("A", "typical"),
    Rule("B", "trifurcation"),
    Rule("C", "rphd_chd"),
    Rule("D", "rphd_left"),
    Rule("E", "rhd_cystic"),
    Rule("F", "rphd_cystic"),
)
LOOKS_FOR = (
    "the typical confluence, a trifurcation, RPHD into the CHD or the left system, or RHD or RPHD into the cystic duct"
)


def classify(anatomy: Anatomy) -> SystemResult:
    return classify_by_rules(
        anatomy, system="ohkubo", display="Ohkubo", rules=RULES, looks_for=LOOKS_FOR, provisional=True
    )
