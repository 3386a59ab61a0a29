"""Huang 1996 (types 1-5, also written A1-A5): where the right posterior duct drains.

Source: Huang et al. 1996 as summarised by Karakas 2008 and Chaib 2014.
"""

from __future__ import annotations

from classification.anatomy import Anatomy
from classification.results import SystemResult
from classification.systems.common import Rule, classify_by_rules

RULES = (
    Rule("1", "rhd_formed"),
    Rule("2", "trifurcation"),
    Rule("3", "rphd_left"),
    Rule("4", "rphd_chd"),
    Rule("5", "rphd_cystic"),
)
LOOKS_FOR = (
    "RAHD and RPHD forming the RHD, a trifurcation, or the RPHD draining into the left system, the CHD "
    "or the cystic duct"
)


def classify(anatomy: Anatomy) -> SystemResult:
    return classify_by_rules(anatomy, system="huang", display="Huang", rules=RULES, looks_for=LOOKS_FOR)
