"""Moving forks back to where two ducts part, and forking where a lost twig leaves or a broken
one comes back, are measurements, not readings: the proposal takes the moved forks only when the ducts read from
them are the same (ids, receiving ducts, segments); otherwise it keeps the skeleton's forks."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import imaging.tree as tree_package
from imaging.tree import propose_tree
from imaging.tree.centreline import Tree

from .test_tree_proposal import phantom, shape


def lengths(document: dict[str, Any]) -> dict[str, float]:
    return {d["id"]: d["length_mm"] for d in document["ducts"] if d.get("length_mm") is not None}


REMEASUREMENTS = ("part_late_forks", "attach_lost_twigs", "attach_returning_twigs")


def proposal_with(monkeypatch: Any, remeasurement: str, remeasured: Any) -> dict[str, Any]:
    document, volume, geometries, _ = phantom("typical_right_lobe")
    for name in REMEASUREMENTS:  # the other one changes nothing
        monkeypatch.setattr(tree_package, name, remeasured if name == remeasurement else lambda *_: None)
    return propose_tree(volume, geometries, graft=document["graft"]).document


def trimmed(tree: Tree, *_: Any) -> Tree:
    """Every leaf 2 mm shorter: the same ducts, other lengths."""
    out = copy.deepcopy(tree)
    for branch in out.branches.values():
        if not branch.children and len(branch.points) > 8:
            keep = len(branch.points) - 4
            branch.points, branch.radii, branch.tubular = (
                branch.points[:keep],
                branch.radii[:keep],
                branch.tubular[:keep],
            )
    return out


def mirrored(tree: Tree, *_: Any) -> Tree:
    """Right and left swapped: every duct would be read differently."""
    out = copy.deepcopy(tree)
    middle = float(out.branches[out.root].lower[0])
    for branch in out.branches.values():
        branch.points = branch.points.copy()
        branch.points[:, 0] = 2 * middle - branch.points[:, 0]
    return out


@pytest.mark.parametrize("remeasurement", REMEASUREMENTS)
def test_forks_moved_without_changing_the_reading_are_taken(monkeypatch, remeasurement):
    document, *_ = phantom("typical_right_lobe")
    as_skeletonised = proposal_with(monkeypatch, remeasurement, lambda *_: None)

    remeasured = proposal_with(monkeypatch, remeasurement, trimmed)

    assert shape(remeasured) == shape(as_skeletonised)
    shorter = [d for d in lengths(remeasured) if lengths(remeasured)[d] < lengths(as_skeletonised)[d] - 1.0]
    assert shorter, "the moved forks' lengths are the ones proposed"


@pytest.mark.parametrize("remeasurement", REMEASUREMENTS)
def test_forks_whose_moving_would_change_the_reading_are_left_where_the_skeleton_put_them(monkeypatch, remeasurement):
    document, *_ = phantom("typical_right_lobe")
    as_skeletonised = proposal_with(monkeypatch, remeasurement, lambda *_: None)

    kept = proposal_with(monkeypatch, remeasurement, mirrored)

    assert shape(kept) == shape(document)
    assert lengths(kept) == lengths(as_skeletonised)
    assert np.isclose(sum(lengths(kept).values()), sum(lengths(as_skeletonised).values()))


def test_a_fork_whose_moving_would_change_the_reading_leaves_the_others_free_to_move(monkeypatch):
    as_skeletonised = proposal_with(monkeypatch, "part_late_forks", lambda *_: None)
    asked: list[Any] = []

    def moving(tree: Tree, voxel_mm: float, forks: list[int] | None = None) -> Tree:
        asked.append(forks)
        # All the forks moved at once, or the first alone, would change the reading; each other fork alone
        # changes only lengths.
        return mirrored(tree) if forks is None or len(asked) == 2 else trimmed(tree)

    remeasured = proposal_with(monkeypatch, "part_late_forks", moving)

    assert asked[0] is None and len(asked) >= 3  # all at once, then one by one
    assert shape(remeasured) == shape(as_skeletonised)
    shorter = [d for d in lengths(remeasured) if lengths(remeasured)[d] < lengths(as_skeletonised)[d] - 1.0]
    assert shorter, "the forks that could move were moved"


def test_naming_a_tree_leaves_it_as_it_was():
    """The tree is named twice when forks are moved; naming cuts the trunk at the confluence
    where it runs on into one side's duct (a right hepatic duct draining into the cystic duct)."""
    from imaging.tree.centreline import centre_lines
    from imaging.tree.grid import SeriesGeometry
    from imaging.tree.label import label
    from imaging.tree.segment import find_fluid, tree_mask

    document, volume, geometries, _ = phantom("rhd_into_cystic")
    segmented = tree_mask(find_fluid(np.asarray(volume, dtype=np.float32), SeriesGeometry.from_slices(geometries)))
    tree = centre_lines(segmented)
    branches = {index: branch.points.copy() for index, branch in tree.branches.items()}

    first = label(tree, segmented.pockets, document["graft"]).document

    assert tree.branches.keys() == branches.keys()
    assert all(np.array_equal(tree.branches[i].points, points) for i, points in branches.items())
    assert label(tree, segmented.pockets, document["graft"]).document == first
