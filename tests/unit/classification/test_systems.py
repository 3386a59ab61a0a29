"""Each rule of each system, on small hand-made trees."""

import pytest

from classification.results import SystemResult
from classification.systems import SYSTEMS, choi, classify_all, couinaud, huang, karakas, ohkubo, proposed
from classification.validation import parse_anatomy
from classification.variants import find_variants


def duct(duct_id, into, segments=None, length=None, junction=None, **extra):
    entry = {"id": duct_id, "drains_into": into, **extra}
    if segments is not None:
        entry["segments"] = segments
    if length is not None:
        entry["length_mm"] = length
    if junction is not None:
        entry["junction_mm"] = junction
    return entry


def left(lhd=15.0):
    return [
        duct("B2", "B23", [2]),
        duct("B3", "B23", [3]),
        duct("B23", "LHD", length=8),
        duct("B4", "LHD", [4]),
        duct("LHD", "CHD", length=lhd),
    ]


def formed_rhd(rhd=12.0, into="CHD", junction=None):
    return [
        duct("RAHD", "RHD", [5, 8], 14),
        duct("RPHD", "RHD", [6, 7], 18),
        duct("RHD", into, length=rhd, junction=junction),
    ]


CYSTIC = duct("CYSTIC", "CHD", junction=25)


def tree(*ducts, graft="right_lobe"):
    return parse_anatomy({"format": "biliary-anatomy/1", "graft": graft, "ducts": list(ducts)})


def types(anatomy):
    return {name: result.type for name, result in classify_all(anatomy).items()}


# --- registry -------------------------------------------------------------------
def test_registry_names_and_order():
    assert list(SYSTEMS) == ["proposed", "couinaud", "huang", "choi", "karakas", "ohkubo"]
    anatomy = tree(*formed_rhd(), *left())
    for name, classify in SYSTEMS.items():
        result = classify(anatomy)
        assert isinstance(result, SystemResult) and result.system == name


# --- the older systems, rule by rule ----------------------------------------------
def test_typical():
    assert types(tree(*formed_rhd(12), *left(), CYSTIC)) == {
        "proposed": "1",
        "couinaud": "A",
        "huang": "1",
        "choi": "1",
        "karakas": "K1",
        "ohkubo": "A",
    }


def test_typical_rules_read_plainly():
    results = classify_all(tree(*formed_rhd(12), *left()))
    assert results["huang"].rule == "RAHD and RPHD join to form the RHD -> Huang 1"
    assert results["karakas"].rule == "RAHD and RPHD join to form the RHD; RHD 12 mm >= 10 mm -> Karakas K1"
    assert results["proposed"].rule == "one graft duct (RHD into CHD, 12 mm >= 5 mm) -> type 1"
    assert all(r.unrepresented == () for r in results.values())


@pytest.mark.parametrize("rhd, expected", [(10.0, "K1"), (9.9, "K2a"), (30, "K1"), (5, "K2a")])
def test_karakas_rhd_length(rhd, expected):
    result = karakas.classify(tree(*formed_rhd(rhd), *left()))
    assert result.type == expected
    assert result.provisional is False


def test_karakas_type_is_null_when_rhd_length_is_missing():
    anatomy = tree(*formed_rhd(None), *left(), graft="left_lateral_segment")
    result = karakas.classify(anatomy)
    assert result.type is None
    assert result.reason.startswith("RHD.length_mm is not recorded")
    assert result.as_dict()["reason"] == result.reason
    assert types(anatomy)["huang"] == "1"


def test_trifurcation():
    anatomy = tree(duct("RAHD", "CHD", [5, 8], 14), duct("RPHD", "CHD", [6, 7], 18), *left())
    assert types(anatomy) == {
        "proposed": "2",
        "couinaud": "B",
        "huang": "2",
        "choi": "2",
        "karakas": "K2b",
        "ohkubo": "B",
    }


def rphd_into(target, junction, lhd=12.0, *more):
    return tree(
        duct("RAHD", "CHD", [5, 8], 14),
        duct("RPHD", target, [6, 7], 30, junction),
        *left(lhd),
        *more,
    )


def test_rphd_into_the_left_system():
    anatomy = rphd_into("LHD", 4, 12.0)
    assert types(anatomy) == {
        "proposed": "2",
        "couinaud": "D1",
        "huang": "3",
        "choi": "3A",
        "karakas": "K3b",
        "ohkubo": "D",
    }
    result = karakas.classify(anatomy)
    assert result.provisional is True
    assert result.rule == "RPHD drains into LHD (left system), 8 mm above the CHD (< 10 mm) -> Karakas K3b"
    assert huang.classify(anatomy).rule == "RPHD drains into LHD (left system) -> Huang 3"


def test_karakas_k3a_counts_every_left_duct_down_to_the_chd():
    assert karakas.classify(rphd_into("LHD", 4, 14.0)).type == "K3a"
    assert karakas.classify(rphd_into("B23", 2, 15.0)).rule.startswith(
        "RPHD drains into B23 (left system), 21 mm above the CHD"
    )


def test_karakas_k3_is_null_when_a_left_length_is_missing():
    anatomy = rphd_into("LHD", 4, None)
    result = karakas.classify(anatomy)
    assert result.type is None and result.provisional is True
    assert result.reason.startswith("LHD.length_mm is not recorded")


def test_rphd_into_the_chd():
    assert types(rphd_into("CHD", 9)) == {
        "proposed": "2",
        "couinaud": "C2",
        "huang": "4",
        "choi": "3B",
        "karakas": "K4",
        "ohkubo": "C",
    }
    assert huang.classify(rphd_into("CHD", 9)).rule == "RPHD drains into the CHD 9 mm below the confluence -> Huang 4"


def test_rphd_into_the_cystic_duct():
    anatomy = rphd_into("CYSTIC", 4, 12.0, CYSTIC)
    assert types(anatomy) == {
        "proposed": "2",
        "couinaud": "F",
        "huang": "5",
        "choi": "3C",
        "karakas": "unclassified",
        "ohkubo": "F",
    }
    assert karakas.classify(anatomy).unrepresented == ("RPHD draining into the cystic duct not represented in Karakas",)


def test_rahd_into_the_chd():
    anatomy = tree(duct("RPHD", "CHD", [6, 7], 20), duct("RAHD", "CHD", [5, 8], 16, 6), *left())
    assert types(anatomy) == {
        "proposed": "2",
        "couinaud": "C1",
        "huang": "unclassified",
        "choi": "unclassified",
        "karakas": "unclassified",
        "ohkubo": "unclassified",
    }
    result = huang.classify(anatomy)
    assert result.rule.startswith("no Huang rule matches")
    assert result.unrepresented == ("RAHD draining into the CHD below the confluence not represented in Huang",)


def test_rahd_into_the_left_system_and_couinaud_label_swap():
    anatomy = tree(duct("RAHD", "LHD", [5, 8], 20, 3), duct("RPHD", "CHD", [6, 7], 18), *left())
    assert couinaud.classify(anatomy).type == "D2"
    assert couinaud.classify(anatomy, labels=couinaud.SWAPPED_D_LABELS).type == "D1"
    assert couinaud.classify(rphd_into("LHD", 4), labels=couinaud.SWAPPED_D_LABELS).type == "D2"
    assert types(anatomy)["huang"] == "unclassified"
    assert types(anatomy)["choi"] == "unclassified"


def test_rhd_into_the_cystic_duct():
    anatomy = tree(*formed_rhd(10, into="CYSTIC", junction=5), *left(), CYSTIC)
    assert types(anatomy) == {
        "proposed": "1",
        "couinaud": "unclassified",
        "huang": "1",
        "choi": "4",
        "karakas": "K1",
        "ohkubo": "E",
    }
    assert huang.classify(anatomy).unrepresented == ("RHD draining into the cystic duct not represented in Huang",)


def test_no_confluence_is_couinaud_e():
    anatomy = tree(
        duct("RAHD", "CHD", [5, 8], 14),
        duct("RPHD", "CHD", [6, 7], 18),
        duct("B2", "B23", [2]),
        duct("B3", "B23", [3]),
        duct("B23", "CHD", length=8),
        duct("B4", "CHD", [4]),
    )
    assert couinaud.classify(anatomy).type == "E"
    assert types(anatomy)["huang"] == "unclassified"


def test_accessory_duct():
    anatomy = tree(*formed_rhd(12), duct("ACC1", "CHD", [6], 10, 7), *left())
    result = huang.classify(anatomy)
    assert result.type == "1"
    assert result.unrepresented == ("accessory duct ACC1 not represented in Huang",)
    assert choi.classify(anatomy).type == "5"
    assert choi.classify(anatomy).unrepresented == ()


def test_left_duct_draining_separately_is_choi_6():
    anatomy = tree(
        *formed_rhd(12),
        duct("B2", "LHD", [2]),
        duct("B3", "LHD", [3]),
        duct("LHD", "CHD", length=10),
        duct("B4", "RHD", [4], junction=7),
    )
    assert choi.classify(anatomy).type == "6"
    assert couinaud.classify(anatomy).type == "A"
    assert couinaud.classify(anatomy).unrepresented == (
        "B4 (left system) draining separately into RHD not represented in Couinaud",
    )


def test_choi_unclassified_with_two_variants():
    anatomy = rphd_into("CHD", 9, 12.0, duct("ACC1", "CHD", [6], 10, 4))
    result = choi.classify(anatomy)
    assert result.type == "unclassified"
    assert result.rule == (
        "two or more variants (RPHD drains into the CHD 9 mm below the confluence; "
        "accessory duct ACC1 (segment 6) drains into CHD) -> Choi unclassified"
    )
    assert result.unrepresented == (
        "RPHD draining into the CHD below the confluence not represented in Choi",
        "accessory duct ACC1 not represented in Choi",
    )
    assert huang.classify(anatomy).type == "4"


def test_ohkubo_is_always_provisional():
    for anatomy in (tree(*formed_rhd(), *left()), rphd_into("LHD", 4), rphd_into("CYSTIC", 4, 12.0, CYSTIC)):
        assert ohkubo.classify(anatomy).provisional is True
    unclassified = tree(duct("RPHD", "CHD", [6, 7], 20), duct("RAHD", "CHD", [5, 8], 16, 6), *left())
    assert ohkubo.classify(unclassified).type == "unclassified"
    assert ohkubo.classify(unclassified).provisional is True


def test_only_karakas_k3_and_ohkubo_are_provisional():
    results = classify_all(rphd_into("CHD", 9))
    assert {n for n, r in results.items() if r.provisional} == {"ohkubo"}
    results = classify_all(rphd_into("LHD", 4))
    assert {n for n, r in results.items() if r.provisional} == {"karakas", "ohkubo"}


def test_left_lateral_segment_variant_is_not_represented_in_right_side_systems():
    anatomy = tree(
        *formed_rhd(12),
        duct("B3", "B34", [3], 6),
        duct("B4", "B34", [4]),
        duct("B34", "LHD", length=5),
        duct("B2", "LHD", [2], 9),
        duct("LHD", "CHD", length=14),
        graft="left_lateral_segment",
    )
    assert huang.classify(anatomy).unrepresented == (
        "B2 and B3 draining separately (no common B23 trunk) not represented in Huang",
    )


# --- the proposed classification -----------------------------------------------------
@pytest.mark.parametrize("rhd, expected", [(5.0, "1"), (5, "1"), (4.99, "2"), (0, "2"), (200, "1")])
def test_proposed_single_duct_threshold(rhd, expected):
    result = proposed.classify(tree(*formed_rhd(rhd), *left()))
    assert result.type == expected
    assert result.graft_ducts == 1 and result.exits == ("RHD",)
    assert result.exit_lengths == {"RHD": float(rhd)}


def test_proposed_result_document_entry():
    entry = proposed.classify(rphd_into("CYSTIC", 4, 12.0, CYSTIC)).as_dict()
    assert entry == {
        "type": "2",
        "rule": "two graft ducts (RAHD into CHD, 14 mm; RPHD into the cystic duct, 30 mm) -> type 2",
        "unrepresented": [],
        "provisional": False,
        "graft_ducts": 2,
        "exits": ["RAHD", "RPHD"],
        "exit_lengths": {"RAHD": 14.0, "RPHD": 30.0},
        "flags": ["cystohepatic duct RPHD drains into the cystic duct"],
    }


def test_rhd_into_cystic_duct_is_flagged():
    result = proposed.classify(tree(*formed_rhd(10, into="CYSTIC"), *left(), CYSTIC))
    assert result.type == "1"
    assert result.flags == ("cystohepatic duct RHD drains into the cystic duct",)


def b4_into_rhd(junction, *more):
    return tree(
        *formed_rhd(12),
        duct("B2", "LHD", [2]),
        duct("B3", "LHD", [3]),
        duct("LHD", "CHD", length=10),
        duct("B4", "RHD", [4], junction=junction),
        *more,
    )


def test_shared_upper_stretch_is_one_exit():
    result = proposed.classify(b4_into_rhd(7))
    assert (result.type, result.exits, result.exit_lengths) == ("1", ("RHD",), {"RHD": 7.0})
    assert result.flags == ("upper stretch of RHD (7 mm, above B4) drains RAHD and RPHD: counted as one exit",)
    assert result.rule == "one graft duct (upper stretch of RHD into CHD, 7 mm >= 5 mm) -> type 1"


def test_short_shared_upper_stretch_is_type_2():
    result = proposed.classify(b4_into_rhd(3))
    assert (result.type, result.graft_ducts, result.exit_lengths) == ("2", 1, {"RHD": 3.0})


def test_graft_tributary_inside_the_stretch_is_part_of_it_and_below_it_is_an_exit():
    anatomy = b4_into_rhd(7, duct("ACC1", "RHD", [6], 4, 3), duct("ACC2", "RHD", [5], 6, 9))
    result = proposed.classify(anatomy)
    assert result.exits == ("ACC2", "RHD")
    assert result.exit_lengths == {"ACC2": 6.0, "RHD": 7.0}


def test_graft_tributary_joining_exactly_at_the_first_remnant_junction_is_its_own_exit():
    result = proposed.classify(b4_into_rhd(7, duct("ACC1", "RHD", [6], 4, 7)))
    assert (result.type, result.exits, result.exit_lengths) == ("2", ("ACC1", "RHD"), {"ACC1": 4.0, "RHD": 7.0})


def lls_with_caudate_at_lhd_top(b4_junction=3):
    """The issue's example: B23 (8 mm) and a caudate B1 join the LHD at 0, B4 lower down."""
    return tree(
        *formed_rhd(12),
        duct("B2", "B23", [2]),
        duct("B3", "B23", [3]),
        duct("B23", "LHD", length=8),
        duct("B1", "LHD", [1]),
        duct("B4", "LHD", [4], junction=b4_junction),
        duct("LHD", "CHD", length=15),
        graft="left_lateral_segment",
    )


def test_caudate_duct_at_the_upper_end_stops_the_shared_stretch():
    result = proposed.classify(lls_with_caudate_at_lhd_top())
    assert (result.type, result.exits, result.exit_lengths) == ("1", ("B23",), {"B23": 8.0})
    assert result.flags == ()
    assert result.rule == "one graft duct (B23 into LHD, 8 mm >= 5 mm) -> type 1"


def test_caudate_duct_below_the_upper_end_ends_the_shared_stretch():
    anatomy = tree(
        *formed_rhd(12),
        duct("B2", "LHD", [2]),
        duct("B3", "LHD", [3]),
        duct("B1", "LHD", [1], junction=4),
        duct("B4", "LHD", [4], junction=6),
        duct("LHD", "CHD", length=15),
        graft="left_lateral_segment",
    )
    result = proposed.classify(anatomy)
    assert (result.type, result.exits, result.exit_lengths) == ("2", ("LHD",), {"LHD": 4.0})
    assert result.flags == ("upper stretch of LHD (4 mm, above B1) drains B2 and B3: counted as one exit",)


def test_b4_joining_the_rahd_leaves_a_rahd_stretch_as_one_exit_of_a_right_lobe():
    anatomy = tree(
        *formed_rhd(12),
        duct("B4", "RAHD", [4], junction=3),
        duct("B2", "LHD", [2]),
        duct("B3", "LHD", [3]),
        duct("LHD", "CHD", length=10),
    )
    result = proposed.classify(anatomy)
    assert (result.type, result.exits, result.exit_lengths) == ("2", ("RAHD", "RPHD"), {"RAHD": 3.0, "RPHD": 18.0})
    assert result.flags == ("upper stretch of RAHD (3 mm, above B4) drains segments 5, 8: counted as one exit",)
    assert result.rule.startswith("two graft ducts (upper stretch of RAHD into RHD, 3 mm; RPHD into RHD, 18 mm)")


@pytest.mark.parametrize("cystic_junction", [0, 2])
def test_empty_cystic_duct_neither_prevents_nor_ends_the_shared_stretch(cystic_junction):
    result = proposed.classify(b4_into_rhd(7, duct("CYSTIC", "RHD", junction=cystic_junction)))
    assert (result.type, result.exits, result.exit_lengths) == ("1", ("RHD",), {"RHD": 7.0})


def test_no_stretch_when_a_remnant_duct_joins_at_the_upper_end():
    result = proposed.classify(b4_into_rhd(0))
    assert result.exits == ("RAHD", "RPHD")


def test_own_graft_segments_drain_through_the_stretch():
    anatomy = tree(
        duct("RPHD", "RHD", [6, 7], 18),
        duct("RHD", "CHD", [5, 8], 12),
        duct("B4", "RHD", [4], junction=8),
        duct("B2", "LHD", [2]),
        duct("B3", "LHD", [3]),
        duct("LHD", "CHD", length=10),
    )
    result = proposed.classify(anatomy)
    assert (result.type, result.exits, result.exit_lengths) == ("1", ("RHD",), {"RHD": 8.0})


@pytest.mark.parametrize(
    "rhd_segments, b4_junction",
    [([5, 8], 0), ([1, 5, 8], 7)],
    ids=["remnant_duct_at_upper_end", "own_caudate_segment"],
)
def test_graft_segments_draining_into_a_duct_with_remnant_bile_at_its_upper_end_are_flagged(rhd_segments, b4_junction):
    anatomy = tree(
        duct("RPHD", "RHD", [6, 7], 18),
        duct("RHD", "CHD", rhd_segments, 12),
        duct("B4", "RHD", [4], junction=b4_junction),
        duct("B2", "LHD", [2]),
        duct("B3", "LHD", [3]),
        duct("LHD", "CHD", length=10),
    )
    result = proposed.classify(anatomy)
    assert (result.type, result.exits, result.exit_lengths) == ("1", ("RPHD",), {"RPHD": 18.0})
    assert result.flags == (
        "segments 5, 8 of the graft drain directly into RHD, which also drains the remnant: "
        "no exit can be counted for them",
    )


def test_duct_mixing_graft_and_remnant_segments_is_flagged():
    anatomy = tree(*formed_rhd(12), duct("ACC2", "CHD", [4, 5], 6, 9), *left())
    result = proposed.classify(anatomy)
    assert result.exits == ("RHD",)
    assert result.flags == (
        "segments 5 of the graft drain directly into ACC2, which also drains the remnant: "
        "no exit can be counted for them",
    )


def test_graft_segments_without_an_exit_are_flagged():
    anatomy = tree(duct("RAHD", "CHD", [5, 8], 14), *left())
    result = proposed.classify(anatomy)
    assert result.type == "1"
    assert result.flags == ("graft segments 6, 7 drain through no exit (not recorded in a graft duct)",)


def test_three_and_four_exits_are_type_3():
    anatomy = rphd_into("CHD", 9, 12.0, duct("ACC1", "CHD", [6], 10, 4))
    assert proposed.classify(anatomy).type == "3"
    four = rphd_into("CHD", 9, 12.0, duct("ACC1", "CHD", [6], 10, 4), duct("ACC2", "CHD", [5], 10, 12))
    result = proposed.classify(four)
    assert (result.type, result.graft_ducts) == ("3", 4)
    assert result.rule.startswith("four graft ducts (ACC1 into CHD, 10 mm;")


def test_left_lobe_graft():
    anatomy = tree(*formed_rhd(12), *left(9), graft="left_lobe")
    result = proposed.classify(anatomy)
    assert (result.type, result.exits) == ("1", ("LHD",))


def test_caudate_duct_is_ignored():
    anatomy = tree(*formed_rhd(12), duct("B1", "RHD", [1]), *left())
    assert proposed.classify(anatomy).exits == ("RHD",)
    assert anatomy.territory("RHD") == frozenset({5, 6, 7, 8})


def test_anatomy_helpers():
    anatomy = rphd_into("LHD", 4)
    assert [d.id for d in anatomy.tributaries("LHD")] == ["B23", "B4", "RPHD"]
    assert anatomy.territory("LHD") == frozenset({2, 3, 4, 6, 7})
    assert anatomy.is_left_system("LHD") and anatomy.is_left_system("B23")
    assert not anatomy.is_left_system("RPHD")
    assert anatomy.graft_ducts == frozenset({"RAHD", "RPHD"})
    assert anatomy.path_to_chd("B2") == ["B2", "B23", "LHD", "CHD"]
    assert find_variants(anatomy).rphd_left and not find_variants(anatomy).typical
