"""Choi et al. 2003 (types 1-6, from 300 intraoperative cholangiograms).

A donor with two or more of the listed variants has no single Choi type and is
`unclassified`, as in the paper's tables. Type 6 ("a left branch draining
separately into the RHD or CHD") is read as a left-system duct other than the LHD
draining into the RHD, RAHD, RPHD or CHD.
"""

from __future__ import annotations

from classification.anatomy import Anatomy
from classification.results import UNCLASSIFIED, SystemResult
from classification.systems.common import Rule, classify_by_rules, unrepresented
from classification.variants import find_variants

VARIANTS = (
    "trifurcation",
    "rphd_left",
    "rphd_chd",
    "rphd_cystic",
    "rhd_cystic",
    "accessory",
    "left_separate",
    "rahd_chd",
    "rahd_left",
)
RULES = (
    Rule("2", "trifurcation"),
    Rule("3A", "rphd_left"),
    Rule("3B", "rphd_chd"),
    Rule("3C", "rphd_cystic"),
    Rule("4", "rhd_cystic"),
    Rule("5", "accessory"),
    Rule("6", "left_separate"),
    Rule("1", "typical"),
)
LOOKS_FOR = (
    "a trifurcation, RPHD into the left system, the CHD or the cystic duct, RHD into the cystic duct, "
    "an accessory duct, a separate left duct, or the typical confluence"
)


def classify(anatomy: Anatomy) -> SystemResult:
    variants = find_variants(anatomy)
    held = variants.kinds(VARIANTS)
    if len(held) >= 2:
        return SystemResult(
            system="choi",
            type=UNCLASSIFIED,
            rule=f"two or more variants ({'; '.join(variants.evidence[p] for p in held)}) -> Choi {UNCLASSIFIED}",
            unrepresented=unrepresented(variants, frozenset(), "Choi"),
        )
    return classify_by_rules(anatomy, system="choi", display="Choi", rules=RULES, looks_for=LOOKS_FOR)
