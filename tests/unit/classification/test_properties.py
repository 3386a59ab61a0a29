"""Properties over random duct trees that are valid by construction."""

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classification.anatomy import AnatomyInvalid
from classification.document import classify_document
from classification.exits import find_exits
from classification.validation import parse_anatomy

GRAFTS = ["right_lobe", "left_lateral_segment", "left_lobe"]
NAMES = ["RAHD", "RPHD", "RHD", "LHD", "B2", "B3", "B4", "B23", "B34", "B5", "B6", "B1"]
lengths = st.one_of(st.none(), st.integers(0, 200), st.floats(0, 200, allow_nan=False, allow_infinity=False))
# Leaves mostly drain one side, so that graft subtrees (and inner graft ducts) are common.
SEGMENT_POOLS = [[5, 6, 7, 8], [2, 3], [2, 3, 4], [1, 4], list(range(1, 9))]
junctions = st.one_of(st.none(), st.just(0), st.integers(1, 40), st.floats(0.5, 40))


@st.composite
def duct_trees(draw):  # noqa: C901 - one recursive generator; its closures share the draws and the tree
    """A document whose tree obeys every structural rule; it may still lack an
    exit or the single exit's length, which validation must then report."""
    ducts = []
    used = set()
    counter = iter(range(1000))

    def new_id():
        free = [n for n in NAMES if n not in used]
        name = draw(st.sampled_from(free + ["X"]))
        if name == "X":
            name = f"X{next(counter)}"
        used.add(name)
        return name

    def grow(parent, junction, depth):
        duct_id = new_id()
        entry = {"id": duct_id, "drains_into": parent}
        length = draw(lengths)
        if length is not None:
            entry["length_mm"] = length
        if junction is not None:
            entry["junction_mm"] = junction
        ducts.append(entry)
        if depth >= 3 or len(ducts) > 14 or draw(st.booleans()):
            pool = draw(st.sampled_from(SEGMENT_POOLS))
            entry["segments"] = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
            return
        own = draw(st.lists(st.integers(1, 8), max_size=2, unique=True))
        if own:
            entry["segments"] = own
        count = draw(st.integers(1 if own else 2, 3))
        for index in range(count):
            at_top = not own and index < 2
            junction = 0 if at_top and draw(st.booleans()) else (None if at_top else draw(junctions))
            if junction is not None and length is not None:
                junction = min(junction, length)  # a tributary joins within its receiving duct
            grow(duct_id, junction, depth + 1)

    for _ in range(draw(st.integers(1, 4))):
        grow("CHD", draw(junctions), 0)
    if draw(st.booleans()):
        used.add("CYSTIC")
        ducts.append({"id": "CYSTIC", "drains_into": "CHD", "junction_mm": 25})
        for _ in range(draw(st.integers(0, 2))):
            grow("CYSTIC", draw(junctions), 2)
    ducts = draw(st.permutations(ducts))
    return {"format": "biliary-anatomy/1", "graft": draw(st.sampled_from(GRAFTS)), "ducts": list(ducts)}


def only_classification_errors(errors):
    return all(
        e.endswith(": needed to classify (single graft duct)") or e.startswith("document.graft: no exit")
        for e in errors
    )


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(duct_trees())
def test_classification_never_raises(document):
    result = classify_document(document)
    json.dumps(result, allow_nan=False)
    if result["valid"]:
        assert set(result["results"]) == {"proposed", "couinaud", "huang", "choi", "karakas", "ohkubo"}
        for entry in result["results"].values():
            assert entry["type"] is None or isinstance(entry["type"], str)
    else:
        assert len(result["errors"]) == 1 and only_classification_errors(result["errors"])


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(duct_trees())
def test_type_1_exactly_when_one_exit_of_at_least_5_mm(document):
    result = classify_document(document)
    if not result["valid"]:
        return
    proposed = result["results"]["proposed"]
    lengths = list(proposed["exit_lengths"].values())
    one_long_exit = len(lengths) == 1 and lengths[0] >= 5
    assert (proposed["type"] == "1") == one_long_exit
    assert proposed["type"] == {1: "1" if one_long_exit else "2", 2: "2"}.get(len(lengths), "3")
    assert proposed["graft_ducts"] == len(proposed["exits"]) == result["prediction"]["anastomoses"]
    assert proposed["exits"] == sorted(proposed["exits"])


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(duct_trees(), st.data())
def test_splitting_a_graft_duct_off_into_its_own_exit_never_lowers_the_exits(document, data):
    try:
        anatomy = parse_anatomy(document)
    except AnatomyInvalid:
        return
    inner = sorted(d.id for d in anatomy.ducts if d.id in anatomy.graft_ducts and d.drains_into in anatomy.graft_ducts)
    if not inner:
        return
    chosen = data.draw(st.sampled_from(inner))
    split = copy.deepcopy(document)
    for duct in split["ducts"]:
        if duct["id"] == chosen:
            duct.update(drains_into="CHD", junction_mm=data.draw(st.floats(1, 60)), length_mm=40)
    try:
        after = parse_anatomy(split)
    except AnatomyInvalid:
        return  # the receiving duct is left with a single tributary: not a valid tree
    assert len(find_exits(after).exits) >= len(find_exits(anatomy).exits)
    assert chosen in {e.duct for e in find_exits(after).exits}


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
duct_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.sampled_from(NAMES + ["CHD", "CYSTIC", "1x"]), json_values),
        "drains_into": st.one_of(st.sampled_from(NAMES + ["CHD", "CYSTIC", "nowhere"]), json_values),
        "segments": st.one_of(st.lists(st.integers(-1, 9), max_size=4), json_values),
        "length_mm": st.one_of(st.floats(), st.integers(-5, 300), json_values),
        "junction_mm": st.one_of(st.floats(), st.integers(-5, 300), json_values),
        "course": st.one_of(st.sampled_from(["supraportal", "infraportal", "unknown", "x"]), json_values),
        "other": json_values,
    },
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "format": st.one_of(st.just("biliary-anatomy/1"), json_values),
                "graft": st.one_of(st.sampled_from(GRAFTS), json_values),
                "ducts": st.one_of(st.lists(duct_like, max_size=10), json_values),
            },
            optional={"notes": json_values},
        ),
    )
)
def test_any_json_gives_a_result_never_an_exception(document):
    result = classify_document(document)
    json.dumps(result)
    assert result["valid"] in (True, False)
    assert result["valid"] or (result["errors"] and result["results"] is None)
