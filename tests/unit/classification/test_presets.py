"""The presets offered on the annotation page are valid and classify as named."""

import pytest

from classification.document import classify_document
from classification.presets import PRESETS, preset_document
from classification.validation import parse_anatomy

EXPECTED = {
    "typical_right_lobe": ("1", "A", "1"),
    "trifurcation": ("2", "B", "2"),
    "rphd_into_lhd": ("2", "D1", "3"),
    "rphd_into_chd": ("2", "C2", "4"),
    "rahd_into_chd": ("2", "C1", "unclassified"),
    "rphd_into_cystic": ("2", "F", "5"),
    "rhd_into_cystic": ("1", "unclassified", "1"),
    "accessory_duct": ("2", "A", "1"),
    "lls_typical_trunk": ("1", "A", "1"),
    "lls_b2_separate": ("2", "A", "1"),
}


def test_every_preset_is_listed():
    assert set(PRESETS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_valid_and_classifies_as_named(name):
    preset = PRESETS[name]
    assert isinstance(preset["label"], str) and preset["label"]
    parse_anatomy(preset["document"])
    results = classify_document(preset["document"])["results"]
    assert (results["proposed"]["type"], results["couinaud"]["type"], results["huang"]["type"]) == EXPECTED[name]


def test_cystohepatic_presets_are_flagged():
    for name, duct in (("rphd_into_cystic", "RPHD"), ("rhd_into_cystic", "RHD")):
        flags = classify_document(PRESETS[name]["document"])["results"]["proposed"]["flags"]
        assert f"cystohepatic duct {duct} drains into the cystic duct" in flags


def test_left_lateral_presets_are_left_lateral_grafts():
    assert PRESETS["lls_typical_trunk"]["document"]["graft"] == "left_lateral_segment"
    assert PRESETS["lls_b2_separate"]["document"]["graft"] == "left_lateral_segment"


def test_shortening_the_typical_rhd_makes_type_2():
    document = preset_document("typical_right_lobe")
    rhd = next(d for d in document["ducts"] if d["id"] == "RHD")
    assert rhd["length_mm"] == 7
    assert classify_document(document)["results"]["proposed"]["type"] == "1"
    rhd["length_mm"] = 4
    result = classify_document(document)
    assert result["results"]["proposed"]["type"] == "2"
    assert result["prediction"]["anastomoses"] == 1
    assert PRESETS["typical_right_lobe"]["document"]["ducts"][2]["length_mm"] == 7
