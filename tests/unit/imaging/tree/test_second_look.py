"""The second look: when the proposal leaves a sector of the liver undrained, the tree is read
again with the pockets' rims kept for the thin ducts' ridges, and that reading is taken only
when it adds what the first missed without changing what the first found."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import imaging.tree as tree_package
from classification.presets import preset_document
from imaging.tree import propose_tree, second_look_is_better, undrained_segments
from imaging.tree.centreline import centre_lines
from imaging.tree.grid import SeriesGeometry
from imaging.tree.label import label
from imaging.tree.segment import find_fluid, tree_mask
from imaging.tree_output import is_uncertain, proposal_body

from .test_tree_proposal import phantom, realistic_phantom, shape

# A right posterior duct draining into the cystic duct along the gallbladder's wall, 1-2 mm from it.
DUCT_ON_THE_GALLBLADDER = {
    "format": "biliary-anatomy/1",
    "graft": "right_lobe",
    "ducts": [
        {"id": "RAHD", "drains_into": "CHD", "segments": [5, 8], "length_mm": 6.2},
        {"id": "RPHD", "drains_into": "CYSTIC", "segments": [6, 7], "length_mm": 16.3, "junction_mm": 4.0},
        {"id": "B2", "drains_into": "B23", "segments": [2]},
        {"id": "B3", "drains_into": "B23", "segments": [3]},
        {"id": "B23", "drains_into": "LHD", "length_mm": 23.9},
        {"id": "B4", "drains_into": "LHD", "segments": [4]},
        {"id": "LHD", "drains_into": "CHD", "length_mm": 17.6},
        {"id": "CYSTIC", "drains_into": "CHD", "junction_mm": 25.0},
    ],
}


def without(document: dict[str, Any], *ids: str) -> dict[str, Any]:
    out = copy.deepcopy(document)
    out["ducts"] = [d for d in out["ducts"] if d["id"] not in ids]
    return out


def test_undrained_segments_are_those_no_duct_drains():
    typical = preset_document("typical_right_lobe")
    assert undrained_segments(typical) == set()
    assert undrained_segments(without(typical, "RPHD")) == {6, 7}
    assert undrained_segments(without(typical, "B2", "B4")) == {2, 4}


def test_the_proposal_names_the_segments_no_duct_drains_for_the_page_and_the_api():
    def body(document):
        return proposal_body(
            graft="right_lobe",
            state="ready" if document else "failed",
            extractor_version="tree-test",
            document=document,
            duct_confidence={},
            junction_confidence={},
            centrelines={},
        )

    typical = preset_document("typical_right_lobe")
    assert body(typical)["undrained_segments"] == []
    assert body(without(typical, "RPHD"))["undrained_segments"] == [6, 7]
    assert body(None)["undrained_segments"] == []


def test_a_second_look_is_taken_only_when_it_adds_ducts_and_changes_none():
    whole = preset_document("typical_right_lobe")
    first = without(whole, "RPHD")
    assert second_look_is_better(first, whole)
    # It drains no more of the liver.
    assert not second_look_is_better(first, first)
    assert not second_look_is_better(whole, whole)
    # It drains more, but a duct of the first drains elsewhere now.
    moved = copy.deepcopy(whole)
    next(d for d in moved["ducts"] if d["id"] == "B4")["drains_into"] = "B23"
    assert not second_look_is_better(first, moved)
    # It drains more, but a duct of the first is gone.
    assert not second_look_is_better(without(whole, "RPHD"), without(whole, "B4"))


@pytest.fixture(scope="module")
def duct_on_the_gallbladder() -> tuple[np.ndarray, list[Any]]:
    return realistic_phantom(DUCT_ON_THE_GALLBLADDER, seed=1012)


def test_a_duct_on_the_gallbladders_wall_is_found_by_the_second_look(duct_on_the_gallbladder):
    volume, geometries = duct_on_the_gallbladder
    series = SeriesGeometry.from_slices(geometries)
    segmented = tree_mask(find_fluid(volume, series))
    first = label(centre_lines(segmented), segmented.pockets, "right_lobe").document
    # The first look cuts the duct out with the gallbladder's rim.
    assert undrained_segments(first) == {6, 7}

    proposal = propose_tree(volume, geometries, graft="right_lobe")

    assert shape(proposal.document) == shape(DUCT_ON_THE_GALLBLADDER)
    # Found on the wall of a pocket and joined across it: the page marks it for checking.
    assert is_uncertain(proposal.duct_confidence["RPHD"], proposal.junction_confidence["RPHD"])


def test_a_tree_draining_every_sector_is_read_once(monkeypatch):
    _, volume, geometries, _ = phantom("typical_right_lobe")
    looks: list[bool] = []

    def counted(fluid: Any, *, keep_rims: bool = False) -> Any:
        looks.append(keep_rims)
        return tree_mask(fluid, keep_rims=keep_rims)

    monkeypatch.setattr(tree_package, "tree_mask", counted)
    proposal = propose_tree(volume, geometries, graft="right_lobe").document

    assert undrained_segments(proposal) == set()
    assert looks == [False]
