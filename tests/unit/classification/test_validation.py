"""Each validation rule of the anatomy format gives its own message."""

import copy
import math

import pytest

from classification.anatomy import Anatomy, AnatomyInvalid, Duct
from classification.document import classify_document
from classification.validation import parse_anatomy

RIGHT = [
    {"id": "RAHD", "drains_into": "RHD", "segments": [5, 8], "length_mm": 14},
    {"id": "RPHD", "drains_into": "RHD", "segments": [6, 7], "length_mm": 18, "course": "supraportal"},
    {"id": "RHD", "drains_into": "CHD", "length_mm": 12},
]
LEFT = [
    {"id": "B2", "drains_into": "B23", "segments": [2]},
    {"id": "B3", "drains_into": "B23", "segments": [3]},
    {"id": "B23", "drains_into": "LHD", "length_mm": 8},
    {"id": "B4", "drains_into": "LHD", "segments": [4]},
    {"id": "LHD", "drains_into": "CHD", "length_mm": 15},
]


def typical(**top):
    return {"format": "biliary-anatomy/1", "graft": "right_lobe", "ducts": copy.deepcopy(RIGHT + LEFT), **top}


def with_duct(duct_id, **changes):
    document = typical()
    for duct in document["ducts"]:
        if duct["id"] == duct_id:
            for key, value in changes.items():
                if value is ...:
                    duct.pop(key, None)
                else:
                    duct[key] = value
    return document


def errors_of(document):
    with pytest.raises(AnatomyInvalid) as caught:
        parse_anatomy(document)
    assert classify_document(document)["errors"] == caught.value.errors
    return caught.value.errors


def test_typical_document_is_valid():
    anatomy = parse_anatomy(typical(notes="typical"))
    assert isinstance(anatomy, Anatomy)
    assert anatomy.graft == "right_lobe"
    assert anatomy.notes == "typical"
    assert anatomy.duct("RPHD") == Duct("RPHD", "RHD", (6, 7), 18.0, 0.0, "supraportal")


def test_invalid_error_carries_the_list():
    error = AnatomyInvalid(["a: b", "c: d"])
    assert error.errors == ["a: b", "c: d"]
    assert "a: b" in str(error)


@pytest.mark.parametrize("document", [None, [], "text", 3, True])
def test_document_must_be_an_object(document):
    [message] = errors_of(document)
    assert message.startswith("document: must be a JSON object")


def test_format_and_graft():
    assert errors_of(typical(format="biliary-anatomy/2")) == [
        "document.format: must be 'biliary-anatomy/1' (got text 'biliary-anatomy/2')"
    ]
    assert errors_of(typical(graft="whole_liver")) == [
        "document.graft: must be one of left_lateral_segment, left_lobe, right_lobe (got text 'whole_liver')"
    ]
    document = typical()
    del document["format"], document["graft"]
    assert [e.split(":")[0] for e in errors_of(document)] == ["document.format", "document.graft"]


def test_graft_must_be_text():
    assert errors_of(typical(graft=["right_lobe"]))[0].startswith("document.graft: must be one of")


def test_ducts_list():
    assert errors_of(typical(ducts={})) == ["document.ducts: must be a list of ducts (got an object)"]
    assert errors_of(typical(ducts=[])) == ["document.ducts: must list at least one duct"]
    document = typical()
    del document["ducts"]
    assert errors_of(document) == ["document.ducts: required (a list of ducts)"]


def test_too_many_ducts():
    ducts = [{"id": f"X{i}", "drains_into": "CHD", "segments": [5]} for i in range(101)]
    assert errors_of(typical(ducts=ducts)) == ["document.ducts: at most 100 ducts (got 101)"]


def test_notes_optional_text():
    assert parse_anatomy(typical(notes=None)).notes == ""
    assert errors_of(typical(notes=5)) == ["document.notes: must be text (got 5)"]


def test_unknown_top_level_field():
    assert errors_of(typical(colour="red")) == ["document.colour: unknown field (allowed: format, graft, ducts, notes)"]


def test_duct_must_be_an_object():
    document = typical()
    document["ducts"].append("RHD")
    assert errors_of(document) == ["ducts[8]: must be an object (got text 'RHD')"]


def test_unknown_target_exact_message():
    assert errors_of(with_duct("RAHD", drains_into="RHX")) == ["RAHD.drains_into: unknown duct 'RHX'"]


def test_drains_into_required_and_text():
    assert errors_of(with_duct("B4", drains_into=...)) == ["B4.drains_into: required (a listed duct or CHD)"]
    assert errors_of(with_duct("B4", drains_into=7)) == ["B4.drains_into: must be a duct id (got 7)"]


@pytest.mark.parametrize(
    "bad_id, reason",
    [
        ("1RHD", "text '1RHD' is not a valid id"),
        ("R-HD", "text 'R-HD' is not a valid id"),
        ("A" * 33, "is not a valid id"),
        ("", "text '' is not a valid id"),
    ],
)
def test_malformed_id(bad_id, reason):
    document = typical()
    document["ducts"].append({"id": bad_id, "drains_into": "CHD", "segments": [6]})
    [message] = errors_of(document)
    assert message.startswith("ducts[8].id: ") and reason in message


def test_longest_id_is_fine():
    document = typical()
    document["ducts"].append({"id": "A" * 32, "drains_into": "CHD", "segments": [1]})
    parse_anatomy(document)


def test_id_required_and_text():
    document = typical()
    document["ducts"].append({"drains_into": "CHD", "segments": [1]})
    document["ducts"].append({"id": 5, "drains_into": "CHD", "segments": [1]})
    assert errors_of(document) == ["ducts[8].id: required", "ducts[9].id: must be text (got 5)"]


def test_chd_is_never_listed():
    document = typical()
    document["ducts"].append({"id": "CHD", "drains_into": "CHD", "segments": [1]})
    assert errors_of(document)[0] == "CHD.id: CHD is the root of the tree and is never listed"


def test_duplicate_id():
    document = typical()
    document["ducts"].append({"id": "B4", "drains_into": "LHD", "segments": [4]})
    assert errors_of(document) == ["B4.id: listed more than once (ducts[6] and ducts[8])"]


def test_loop_names_its_ducts():
    document = typical()
    document["ducts"] += [
        {"id": "X1", "drains_into": "X2", "segments": [6]},
        {"id": "X2", "drains_into": "X3", "segments": [6]},
        {"id": "X3", "drains_into": "X1", "segments": [6]},
    ]
    assert errors_of(document) == ["X1.drains_into: drainage loop X1 -> X2 -> X3 -> X1"]


def test_loop_is_reported_once_and_from_its_first_listed_duct():
    document = typical()
    document["ducts"] += [
        {"id": "Y", "drains_into": "X2", "segments": [6]},
        {"id": "X2", "drains_into": "X1", "segments": [6]},
        {"id": "X1", "drains_into": "X2", "segments": [6]},
    ]
    assert errors_of(document) == ["X2.drains_into: drainage loop X2 -> X1 -> X2"]


def test_duct_draining_into_itself():
    document = typical()
    document["ducts"].append({"id": "X1", "drains_into": "X1", "segments": [6]})
    assert errors_of(document) == ["X1.drains_into: drainage loop X1 -> X1"]


@pytest.mark.parametrize(
    "segments, reason",
    [
        (5, "must be a list of Couinaud segments 1-8 (got 5)"),
        ([9], "must list Couinaud segments as whole numbers 1-8 (got 9)"),
        ([0, 5], "must list Couinaud segments as whole numbers 1-8 (got 0)"),
        ([True], "must list Couinaud segments as whole numbers 1-8 (got true)"),
        ([5.0], "must list Couinaud segments as whole numbers 1-8 (got 5.0)"),
        (["5"], "must list Couinaud segments as whole numbers 1-8 (got text '5')"),
        ([5, 8, 5], "segment 5 listed more than once"),
    ],
)
def test_segments(segments, reason):
    assert errors_of(with_duct("RAHD", segments=segments)) == [f"RAHD.segments: {reason}"]


def test_cystic_duct_drains_no_segment():
    document = typical()
    document["ducts"].append({"id": "CYSTIC", "drains_into": "CHD", "segments": [5]})
    assert errors_of(document)[0].startswith("CYSTIC.segments: the cystic duct drains no liver segment")


def test_cystic_duct_without_segments_is_fine():
    document = typical()
    document["ducts"].append({"id": "CYSTIC", "drains_into": "CHD", "junction_mm": 25})
    parse_anatomy(document)


def test_leaf_without_segments():
    assert errors_of(with_duct("B4", segments=...)) == ["B4.segments: required for a duct with no tributaries"]
    assert errors_of(with_duct("B4", segments=[])) == ["B4.segments: required for a duct with no tributaries"]


def test_duct_without_segments_and_one_tributary_at_its_upper_end():
    document = with_duct("B4", junction_mm=3)
    assert errors_of(document) == [
        "LHD.segments: no own segments and only B23 joins at its upper end (junction_mm 0); "
        "record that stretch as part of B23"
    ]


def test_duct_without_segments_and_no_tributary_at_its_upper_end():
    document = with_duct("B4", junction_mm=3)
    for duct in document["ducts"]:
        if duct["id"] == "B23":
            duct["junction_mm"] = 1
    [message] = errors_of(document)
    assert message.startswith("LHD.segments: no own segments and no tributary joins at its upper end")


def test_duct_with_own_segments_needs_no_tributary_at_its_upper_end():
    document = with_duct("B4", junction_mm=3)
    for duct in document["ducts"]:
        if duct["id"] == "LHD":
            duct["segments"] = [4]
    parse_anatomy(document)


@pytest.mark.parametrize("field", ["length_mm", "junction_mm"])
@pytest.mark.parametrize(
    "value, reason",
    [
        (True, "must be a number of mm (got true)"),
        ("12", "must be a number of mm (got text '12')"),
        ([12], "must be a number of mm (got a list)"),
        (math.nan, "must be a finite number of mm (got nan)"),
        (math.inf, "must be a finite number of mm (got inf)"),
        (-1, "must be between 0 and 200 mm (got -1)"),
        (200.5, "must be between 0 and 200 mm (got 200.5)"),
        (10**400, "must be between 0 and 200 mm"),
    ],
    ids=["bool", "text", "list", "nan", "inf", "negative", "above_200", "huge_int"],
)
def test_numbers(field, value, reason):
    [message] = errors_of(with_duct("RPHD", **{field: value}))
    assert message.startswith(f"RPHD.{field}: {reason}")


@pytest.mark.parametrize("value", [0, 0.0, 200, 200.0, None])
def test_number_range_ends_are_fine(value):
    document = with_duct("RPHD", length_mm=value)
    document["ducts"].append({"id": "ACC1", "drains_into": "CHD", "segments": [6], "junction_mm": value})
    parse_anatomy(document)


def test_course_only_for_rphd_and_from_the_list():
    assert errors_of(with_duct("RAHD", course="supraportal")) == ["RAHD.course: recorded only for RPHD"]
    assert errors_of(with_duct("RPHD", course="anterior")) == [
        "RPHD.course: must be one of supraportal, infraportal, unknown (got text 'anterior')"
    ]
    for course in ("supraportal", "infraportal", "unknown", None):
        parse_anatomy(with_duct("RPHD", course=course))


def test_unknown_duct_field():
    assert errors_of(with_duct("RHD", diameter_mm=3)) == [
        "RHD.diameter_mm: unknown field (allowed: course, drains_into, id, junction_mm, length_mm, segments)"
    ]


def test_single_exit_needs_a_length():
    assert errors_of(with_duct("RHD", length_mm=...)) == ["RHD.length_mm: needed to classify (single graft duct)"]


def test_two_exits_need_no_length():
    document = typical()
    document["ducts"].append({"id": "ACC1", "drains_into": "CHD", "segments": [6], "junction_mm": 7})
    for duct in document["ducts"]:
        duct.pop("length_mm", None)
    result = classify_document(document)
    assert result["valid"] is True
    assert result["results"]["proposed"]["exit_lengths"] == {"ACC1": None, "RHD": None}
    assert result["results"]["karakas"]["type"] is None


def test_no_exit():
    document = {
        "format": "biliary-anatomy/1",
        "graft": "left_lateral_segment",
        "ducts": [
            {"id": "RHD", "drains_into": "CHD", "segments": [5, 6, 7, 8], "length_mm": 10},
            {"id": "LHD", "drains_into": "CHD", "segments": [2, 3, 4], "length_mm": 10},
        ],
    }
    assert errors_of(document) == [
        "document.graft: no exit: no duct drains only the left lateral segment (segments 2, 3)"
    ]


def test_every_problem_is_reported_at_once():
    document = typical(graft="liver", extra=1)
    document["ducts"][0]["drains_into"] = "RHX"
    document["ducts"][1]["length_mm"] = "long"
    document["ducts"][2]["course"] = "supraportal"
    document["ducts"][3]["segments"] = [12]
    errors = errors_of(document)
    assert [e.split(":")[0] for e in errors] == [
        "document.extra",
        "document.graft",
        "RAHD.drains_into",
        "RPHD.length_mm",
        "RHD.course",
        "B2.segments",
    ]


def test_tree_shape_is_not_judged_while_a_name_is_wrong():
    """B23's tributaries may be the misnamed ones; do not also call B23 a leaf."""
    document = typical()
    for duct in document["ducts"]:
        if duct["id"] in ("B2", "B3"):
            duct["drains_into"] = "B32"
    assert errors_of(document) == ["B2.drains_into: unknown duct 'B32'", "B3.drains_into: unknown duct 'B32'"]


def test_never_raises_on_odd_python_values():
    for document in (
        typical(ducts=[{"id": ["RHD"], "drains_into": {"a": 1}, "segments": [[5]], "length_mm": object()}]),
        typical(ducts=[None, 1, []]),
        {1: 2, None: 3},
    ):
        result = classify_document(document)
        assert result["valid"] is False and result["errors"]


def with_tributary_of_b23(junction, **b23):
    """B23 is 8 mm long; ACC1 joins it `junction` mm below its upper end."""
    document = with_duct("B23", **b23)
    document["ducts"].append({"id": "ACC1", "drains_into": "B23", "segments": [2], "junction_mm": junction})
    return document


def test_junction_beyond_the_end_of_the_receiving_duct():
    document = with_tributary_of_b23(8.5)
    assert errors_of(document) == ["ACC1.junction_mm: 8.5 mm is beyond the end of B23 (B23.length_mm is 8 mm)"]
    assert classify_document(document)["valid"] is False


@pytest.mark.parametrize(
    "junction, b23", [(8, {}), (0, {}), (30, {"length_mm": ...})], ids=["at_the_end", "at_the_upper_end", "no_length"]
)
def test_junction_within_the_receiving_duct_or_its_length_not_given_is_fine(junction, b23):
    parse_anatomy(with_tributary_of_b23(junction, **b23))


def test_junction_check_uses_only_usable_numbers():
    assert errors_of(with_tributary_of_b23(9, length_mm="long")) == [
        "B23.length_mm: must be a number of mm (got text 'long')"
    ]


@pytest.mark.parametrize("field", ["length_mm", "junction_mm"])
def test_python_int_too_long_to_print_is_named_by_its_field(field):
    [message] = errors_of(with_duct("RPHD", **{field: 10**5000}))
    assert message == f"RPHD.{field}: must be between 0 and 200 mm (got a whole number of about 5001 digits)"


def test_python_int_too_long_to_print_elsewhere():
    document = with_duct("RAHD", segments=[5, -(10**5000)], id=10**5000)
    assert classify_document(document)["errors"] == [
        "ducts[0].id: must be text (got a whole number of about 5001 digits)",
        "ducts[0].segments: must list Couinaud segments as whole numbers 1-8 (got a whole number of about 5001 digits)",
    ]


def test_segments_list_longer_than_the_segments_is_refused_by_its_length():
    # Refused on its length alone, before any per-entry check (bench/bounds.py times it).
    errors = errors_of(with_duct("RAHD", segments=[5, 8] * 32_000))
    assert errors == ["RAHD.segments: lists 64000 entries; there are only 8 Couinaud segments"]


def test_repeated_segments_are_named_once_each():
    assert errors_of(with_duct("RAHD", segments=[8, 5, 8, 5, 8])) == [
        "RAHD.segments: segment 5, 8 listed more than once"
    ]
