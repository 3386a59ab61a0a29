"""Duct diagram: every case file lays out with marked exits and no overlapping labels."""

import dataclasses
import json
import math
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from classification import diagram as dg

CASES = Path(__file__).resolve().parents[2] / "data" / "cases"
VALID = sorted(p for p in CASES.glob("*.json") if json.loads(p.read_text())["expected"]["valid"])
SVG = "{http://www.w3.org/2000/svg}"


def load(path: Path) -> tuple[dict, list[str]]:
    case = json.loads(path.read_text())
    return case["anatomy"], case["expected"]["results"]["proposed"]["exits"]


def distance_to_edge(x: float, y: float, e: dg.Edge) -> float:
    dx, dy = e.x2 - e.x1, e.y2 - e.y1
    t = max(0.0, min(1.0, ((x - e.x1) * dx + (y - e.y1) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - (e.x1 + t * dx), y - (e.y1 + t * dy))


def assert_sound(document: dict, exits: list[str]) -> tuple[dg.DiagramLayout, ET.Element, str]:
    diagram = dg.layout(document, exits)
    edges = {e.duct: e for e in diagram.edges}
    # every exit has exactly one mark, lying on its own duct
    assert sorted(m.duct for m in diagram.exits) == sorted(set(exits))
    for mark in diagram.exits:
        assert distance_to_edge(mark.x, mark.y, edges[mark.duct]) < 0.5
    # no two label boxes overlap, and all lie inside the canvas
    for a, b in combinations(diagram.labels, 2):
        assert not a.overlaps(b), (a, b)
    for box in diagram.labels:
        assert box.x >= 0 and box.x + box.w <= diagram.width
        assert box.y >= 0 and box.y + box.h <= diagram.height
    # every listed duct is drawn and named
    ids = {d["id"] for d in document["ducts"]}
    assert ids | {"CHD"} == set(edges)
    named = {b.duct for b in diagram.labels if b.kind == "duct"}
    assert ids | {"CHD"} <= named
    svg = dg.render_svg(diagram)
    root = ET.fromstring(svg)
    return diagram, root, svg


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_case_file_diagram(path):
    document, exits = load(path)
    diagram, root, svg = assert_sound(document, exits)
    assert root.tag == SVG + "svg"
    assert float(root.get("width")) == diagram.width and float(root.get("height")) == diagram.height
    assert root.get("viewBox") == f"0 0 {diagram.width} {diagram.height}"
    assert root.find(SVG + "title").text.startswith("Bile ducts")
    texts = " ".join(t.text or "" for t in root.iter(SVG + "text"))
    for duct in document["ducts"]:
        if duct["id"] != "CYSTIC":
            assert duct["id"] in texts
        if duct.get("length_mm") is not None:
            assert f"{duct['length_mm']:g} mm" in texts
    assert "patient's right" in texts
    # self-contained: no scripts, links, external images or fonts
    for banned in ("<script", "href", "url(", "@import", "<image", "<foreignObject"):
        assert banned not in svg


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_graft_ducts_are_highlighted(path):
    document, exits = load(path)
    diagram = dg.layout(document, exits)
    graft = {e.duct for e in diagram.edges if e.role == "graft"}
    assert graft == dg.graft_ducts(document)
    assert set(exits) <= graft | {d["id"] for d in document["ducts"]}


def test_graft_ducts_by_territory():
    document, _ = load(CASES / "typical_rl_long_rhd.json")
    assert dg.graft_ducts(document) == {"RAHD", "RPHD", "RHD"}
    document, _ = load(CASES / "typical_lls_trunk_8mm.json")
    assert dg.graft_ducts(document) == {"B2", "B3", "B23"}
    document, _ = load(CASES / "lls_b2_separate.json")
    assert dg.graft_ducts(document) == {"B2", "B3"}  # B34 also drains segment 4


def test_right_ducts_on_the_viewers_left():
    document, exits = load(CASES / "typical_rl_long_rhd.json")
    nodes = {n.id: n for n in dg.layout(document, exits).nodes}
    assert nodes["RPHD"].x < nodes["RAHD"].x < nodes["CHD"].x < nodes["B4"].x < nodes["B2"].x


def test_lower_junction_joins_lower_on_the_chd():
    document, exits = load(CASES / "rphd_to_chd.json")  # RPHD joins 9 mm below the confluence
    edges = {e.duct: e for e in dg.layout(document, exits).edges}
    chd = edges["CHD"]
    assert edges["RAHD"].y2 == pytest.approx(chd.y1)
    assert chd.y1 < edges["RPHD"].y2 < edges["CYSTIC"].y2 < chd.y2
    assert edges["RPHD"].x2 == pytest.approx(chd.x1)


def test_exit_mark_sits_near_the_lower_end():
    document, exits = load(CASES / "typical_rl_long_rhd.json")
    diagram = dg.layout(document, exits)
    rhd = next(e for e in diagram.edges if e.duct == "RHD")
    (mark,) = diagram.exits
    along = math.dist((rhd.x1, rhd.y1), (mark.x, mark.y)) / math.dist((rhd.x1, rhd.y1), (rhd.x2, rhd.y2))
    assert along > 0.5


def test_shared_upper_stretch_is_cut_above_the_other_tributary():
    # A segment IV duct joins the RHD 7 mm below its origin; the graft exit is RHD's upper stretch.
    document = {
        "format": "biliary-anatomy/1",
        "graft": "right_lobe",
        "ducts": [
            {"id": "RAHD", "segments": [5, 8], "drains_into": "RHD", "length_mm": 12},
            {"id": "RPHD", "segments": [6, 7], "drains_into": "RHD", "length_mm": 15},
            {"id": "B4", "segments": [4], "drains_into": "RHD", "junction_mm": 7},
            {"id": "RHD", "drains_into": "CHD", "length_mm": 14},
            {"id": "B2", "segments": [2], "drains_into": "LHD"},
            {"id": "B3", "segments": [3], "drains_into": "LHD"},
            {"id": "LHD", "drains_into": "CHD", "length_mm": 15},
        ],
    }
    diagram, _, _ = assert_sound(document, ["RHD"])
    edges = {e.duct: e for e in diagram.edges}
    (mark,) = diagram.exits
    assert "RHD" not in dg.graft_ducts(document)
    assert edges["RHD"].y1 < mark.y < edges["B4"].y2  # between RHD's origin and B4's junction


def test_unknown_exit_rejected():
    document, _ = load(CASES / "typical_rl_long_rhd.json")
    with pytest.raises(ValueError):
        dg.layout(document, ["NOPE"])


def test_text_is_escaped():
    document, exits = load(CASES / "typical_rl_long_rhd.json")
    diagram = dataclasses.replace(dg.layout(document, exits), title='A <b> & "c"', subtitle="x < y")
    root = ET.fromstring(dg.render_svg(diagram))
    assert root.find(SVG + "title").text == 'A <b> & "c"'


# ---------------------------------------------------------------- random trees


@hs.composite
def documents(draw):
    """Random duct trees: leaves carry segments, some ducts join lower, an optional cystic duct."""
    graft = draw(hs.sampled_from(sorted(dg.GRAFT_SEGMENTS)))
    count = draw(hs.integers(1, 12))
    ducts = []
    for i in range(count):
        parent = draw(hs.sampled_from(["CHD"] + [d["id"] for d in ducts]))
        duct = {"id": f"D{i}", "drains_into": parent}
        if draw(hs.booleans()):
            duct["length_mm"] = draw(hs.sampled_from([0.5, 3, 4.9, 5, 8, 12, 25, 60, 200]))
        if draw(hs.booleans()):
            duct["junction_mm"] = draw(hs.sampled_from([0, 2, 7, 9, 30, 150]))
        ducts.append(duct)
    if draw(hs.booleans()):
        ducts.append({"id": "CYSTIC", "drains_into": "CHD", "junction_mm": 25})
        if draw(hs.booleans()):
            ducts[0]["drains_into"] = "CYSTIC"
    parents = {d["drains_into"] for d in ducts}
    for duct in ducts:
        if duct["id"] not in parents and duct["id"] != "CYSTIC":
            duct["segments"] = draw(hs.lists(hs.integers(1, 8), min_size=1, max_size=3, unique=True))
    document = {"format": "biliary-anatomy/1", "graft": graft, "ducts": ducts}
    graft_ids = sorted(dg.graft_ducts(document))
    exits = draw(hs.lists(hs.sampled_from(graft_ids), unique=True)) if graft_ids else []
    return document, exits


@settings(max_examples=120, deadline=None)
@given(documents())
def test_random_trees_lay_out_cleanly(case):
    document, exits = case
    assert_sound(document, exits)
