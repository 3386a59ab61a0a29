"""The named variants the older systems are written in (spec section 3), and the
list of every departure from the typical tree a donor shows.

Each predicate is read off the tree exactly as the spec defines it. The features
list is what lets each system say which of this donor's variants its label
cannot show ("accessory duct ACC1 not represented in Huang"); besides the
predicates it names drainage none of the systems has a type for (e.g. RAHD into
the cystic duct, LHD not joining the CHD) and B2 and B3 draining separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from classification.anatomy import CHD, CYSTIC, RIGHT_SEGMENTS, Anatomy, describe_segments, found_once


@dataclass(frozen=True)
class Feature:
    """One departure from the typical tree. `kind` is the predicate (or other
    variant) it belongs to; `text` names it for this donor."""

    kind: str
    text: str


@dataclass(frozen=True)
class Variants:
    rhd_formed: bool
    typical: bool
    trifurcation: bool
    rphd_left: bool
    rahd_left: bool
    rphd_chd: bool
    rahd_chd: bool
    rphd_cystic: bool
    rhd_cystic: bool
    accessory: tuple[str, ...]
    left_separate: tuple[str, ...]
    no_confluence: bool
    features: tuple[Feature, ...]
    evidence: dict[str, str]

    def holds(self, predicate: str) -> bool:
        return bool(getattr(self, predicate))

    def kinds(self, predicates: tuple[str, ...]) -> list[str]:
        """Which of `predicates` hold, in the order given."""
        return [p for p in predicates if self.holds(p)]


@found_once
def find_variants(anatomy: Anatomy) -> Variants:
    """The named variants (predicates) the older systems are written in."""

    def target(duct_id: str) -> str | None:
        return anatomy.drains_into(duct_id)

    def junction(duct_id: str) -> float:
        duct = anatomy.duct(duct_id)
        return duct.junction_mm if duct else 0.0

    rahd, rphd, rhd, lhd = (target(d) for d in ("RAHD", "RPHD", "RHD", "LHD"))
    left = anatomy.left_system
    rhd_formed = rahd == "RHD" and rphd == "RHD"
    found = {
        "rhd_formed": rhd_formed,
        "typical": rhd_formed and rhd == CHD and lhd == CHD,
        "trifurcation": rahd == CHD
        and rphd == CHD
        and lhd == CHD
        and junction("RAHD") == junction("RPHD") == junction("LHD") == 0,
        "rphd_left": rphd in left,
        "rahd_left": rahd in left,
        "rphd_chd": rphd == CHD and junction("RPHD") > 0,
        "rahd_chd": rahd == CHD and junction("RAHD") > 0,
        "rphd_cystic": rphd == CYSTIC,
        "rhd_cystic": rhd == CYSTIC,
        "no_confluence": "LHD" not in anatomy and "RHD" not in anatomy,
    }
    accessory = tuple(
        d.id for d in anatomy.ducts if not d.is_reserved and d.own_territory and d.own_territory <= RIGHT_SEGMENTS
    )
    left_separate = tuple(
        d.id for d in anatomy.ducts if d.id in left and d.id != "LHD" and d.drains_into in ("RHD", "RAHD", "RPHD", CHD)
    )
    evidence = {
        "rhd_formed": "RAHD and RPHD join to form the RHD",
        "typical": "RAHD and RPHD form the RHD, and the RHD and LHD join to form the CHD",
        "trifurcation": "RAHD, RPHD and LHD join the CHD at one point (trifurcation)",
        "rphd_left": f"RPHD drains into {rphd} (left system)",
        "rahd_left": f"RAHD drains into {rahd} (left system)",
        "rphd_chd": f"RPHD drains into the CHD {junction('RPHD'):g} mm below the confluence",
        "rahd_chd": f"RAHD drains into the CHD {junction('RAHD'):g} mm below the confluence",
        "rphd_cystic": "RPHD drains into the cystic duct",
        "rhd_cystic": "RHD drains into the cystic duct",
        "accessory": "; ".join(
            f"accessory duct {a} (segment {describe_segments(anatomy.listed(a).own_territory)}) "
            f"drains into {anatomy.drains_into(a)}"
            for a in accessory
        ),
        "left_separate": "; ".join(
            f"{d} (left system) drains separately into {anatomy.drains_into(d)}" for d in left_separate
        ),
        "no_confluence": "there is neither an LHD nor an RHD",
    }
    features = [Feature(kind, text) for kind, text in feature_texts(rphd, rahd) if found[kind]]
    features += [Feature("accessory", f"accessory duct {a}") for a in accessory]
    features += [
        Feature("left_separate", f"{d} (left system) draining separately into {anatomy.drains_into(d)}")
        for d in left_separate
    ]
    features += other_drainage(anatomy, left)
    return Variants(
        **found,
        accessory=accessory,
        left_separate=left_separate,
        features=tuple(features),
        evidence=evidence,
    )


def feature_texts(rphd: str | None, rahd: str | None) -> list[tuple[str, str]]:
    return [
        ("no_confluence", "no hilar confluence (neither LHD nor RHD)"),
        ("trifurcation", "trifurcation of RAHD, RPHD and LHD"),
        ("rphd_left", f"RPHD draining into {rphd} (left system)"),
        ("rahd_left", f"RAHD draining into {rahd} (left system)"),
        ("rphd_chd", "RPHD draining into the CHD below the confluence"),
        ("rahd_chd", "RAHD draining into the CHD below the confluence"),
        ("rphd_cystic", "RPHD draining into the cystic duct"),
        ("rhd_cystic", "RHD draining into the cystic duct"),
    ]


def other_drainage(anatomy: Anatomy, left: frozenset[str]) -> list[Feature]:
    """Drainage that no predicate names, so that no system can show it."""
    usual = {
        "RAHD": {"RHD", CHD} | left,
        "RPHD": {"RHD", CHD, CYSTIC} | left,
        "RHD": {CHD, CYSTIC},
        "LHD": {CHD},
    }
    features = []
    for duct_id, targets in usual.items():
        into = anatomy.drains_into(duct_id)
        if into is not None and into not in targets:
            name = "the cystic duct" if into == CYSTIC else into
            features.append(Feature("other", f"{duct_id} draining into {name}"))
    b2, b3 = anatomy.drains_into("B2"), anatomy.drains_into("B3")
    if b2 and b3 and b2 != b3 and b2 != "B3" and b3 != "B2":
        features.append(Feature("other", "B2 and B3 draining separately (no common B23 trunk)"))
    return features
