"""Karakas 2008 (K1-K4): Huang's types with a 1 cm length added.

K1/K2a split a normally formed RHD at 10 mm; K3a/K3b split an RPHD draining into
the left system by the distance from its junction down to the CHD (the remaining
length of each left-system duct below the junction). Which K3 subtype is the
short one is not sourced, so K3 results are provisional; K3a is taken as the
long one, matching the K1 (long) / K2a (short) order. A length the rule needs
that is not recorded gives type None with the reason; it is not an error.
"""

from __future__ import annotations

from classification.anatomy import CHD, Anatomy
from classification.results import SystemResult
from classification.systems.common import Rule, classify_by_rules, unrepresented
from classification.variants import find_variants

DISPLAY = "Karakas"
CUTOFF_MM = 10.0
LOOKS_FOR = "RAHD and RPHD forming the RHD, a trifurcation, or the RPHD draining into the left system or the CHD"


def classify(anatomy: Anatomy) -> SystemResult:
    variants = find_variants(anatomy)
    if variants.rhd_formed:
        return by_rhd_length(anatomy)
    if variants.trifurcation:
        return classify_by_rules(
            anatomy, system="karakas", display=DISPLAY, rules=(Rule("K2b", "trifurcation"),), looks_for=LOOKS_FOR
        )
    if variants.rphd_left:
        return by_left_distance(anatomy)
    return classify_by_rules(
        anatomy, system="karakas", display=DISPLAY, rules=(Rule("K4", "rphd_chd"),), looks_for=LOOKS_FOR
    )


def by_rhd_length(anatomy: Anatomy) -> SystemResult:
    variants = find_variants(anatomy)
    length = anatomy.listed("RHD").length_mm
    formed = variants.evidence["rhd_formed"]
    missing = unrepresented(variants, frozenset(), DISPLAY)
    if length is None:
        return SystemResult(
            system="karakas",
            type=None,
            rule=f"{formed}; RHD length not recorded -> Karakas K1 or K2a",
            unrepresented=missing,
            reason=f"RHD.length_mm is not recorded: Karakas separates K1 from K2a at an RHD length of {CUTOFF_MM:g} mm",
        )
    label, compare = ("K1", ">=") if length >= CUTOFF_MM else ("K2a", "<")
    return SystemResult(
        system="karakas",
        type=label,
        rule=f"{formed}; RHD {length:g} mm {compare} {CUTOFF_MM:g} mm -> Karakas {label}",
        unrepresented=missing,
    )


def by_left_distance(anatomy: Anatomy) -> SystemResult:
    variants = find_variants(anatomy)
    joins = variants.evidence["rphd_left"]
    missing = unrepresented(variants, frozenset({"rphd_left"}), DISPLAY)
    distance, unmeasured = distance_to_chd(anatomy, "RPHD")
    if distance is None:
        return SystemResult(
            system="karakas",
            type=None,
            rule=f"{joins}; distance to the CHD unknown -> Karakas K3a or K3b",
            unrepresented=missing,
            provisional=True,
            reason=(
                f"{unmeasured}.length_mm is not recorded: Karakas separates K3a from K3b at {CUTOFF_MM:g} mm "
                "from the RPHD junction to the CHD"
            ),
        )
    label, compare = ("K3a", ">=") if distance >= CUTOFF_MM else ("K3b", "<")
    return SystemResult(
        system="karakas",
        type=label,
        rule=f"{joins}, {distance:g} mm above the CHD ({compare} {CUTOFF_MM:g} mm) -> Karakas {label}",
        unrepresented=missing,
        provisional=True,
    )


def distance_to_chd(anatomy: Anatomy, duct_id: str) -> tuple[float | None, str | None]:
    """From where `duct_id` joins its receiving duct down to the CHD, in mm; or
    (None, id of the first duct on the way whose length is not recorded)."""
    distance = 0.0
    duct = anatomy.listed(duct_id)
    while duct.drains_into != CHD:
        below = anatomy.listed(duct.drains_into)
        if below.length_mm is None:
            return None, below.id
        distance += max(0.0, below.length_mm - duct.junction_mm)
        duct = below
    return distance, None
