"""A twig the mask lost where a duct divides: the duct ran on into the twig its fork kept and was
measured too long by that twig's length. The lost twig, still a ridge of the tube measure, is
forked from the duct where it leaves, and the duct is measured to that fork."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import imaging.tree as tree_package
from classification.presets import preset_document
from imaging.tree import propose_tree
from imaging.tree.centreline import Branch, Tree, attach_lost_twigs, attach_returning_twigs
from imaging.tree.segment import _longest_path

from .test_centreline import path
from .test_tree_proposal import realistic_phantom, shape


def branch(index: int, points: np.ndarray, radius: float, parent: int | None) -> Branch:
    return Branch(index, points, np.full(len(points), radius, dtype=np.float32), np.ones(len(points)), parent)


def duct_running_on_into_its_twig() -> Tree:
    """A posterior duct up from (0, 0, 0) that divides at 15 mm, but runs on unbroken into the
    twig it kept, to that twig's own fork at 30 mm."""
    stem = branch(0, path((0, 0, -20), (0, 0, 0)), 1.8, None)
    duct = branch(1, path((0, 0, 0), (0, 0, 30)), 0.8, 0)
    twig_a, twig_b = branch(2, path((0, 0, 30), (8, 0, 40)), 0.5, 1), branch(3, path((0, 0, 30), (-8, 0, 40)), 0.5, 1)
    other = branch(4, path((0, 0, 0), (15, 0, 10)), 0.8, 0)
    stem.children, duct.children = [1, 4], [2, 3]
    return Tree({b.index: b for b in (stem, duct, twig_a, twig_b, other)}, 0, 0)


def test_a_lost_twig_forks_from_the_duct_where_it_leaves_and_ends_the_duct_there():
    tree = duct_running_on_into_its_twig()
    lost = path((1.5, 0, 15.5), (9, 0, 25))  # from beside the duct's wall outwards, 12 mm

    attached = attach_lost_twigs(tree, [lost])

    assert attached is not None
    duct = attached.branches[1]
    assert np.linalg.norm(duct.upper - [0, 0, 15]) < 0.6
    assert abs(duct.length_mm - 15.0) < 0.6
    rest, twig = (attached.branches[c] for c in duct.children)
    # The rest of the duct keeps its twigs; the lost twig leaves from the fork, as wide as the twig kept.
    assert rest.children == [2, 3] and all(attached.branches[c].parent == rest.index for c in (2, 3))
    assert np.allclose(rest.lower, duct.upper) and np.allclose(twig.lower, duct.upper)
    assert np.allclose(twig.points[-1], lost[-1])
    assert np.allclose(twig.radii, np.median(rest.radii))
    # The tree given is left as it was.
    assert tree.branches[1].length_mm == pytest.approx(30.0, abs=0.6)


def test_a_twig_starting_where_a_fork_widened_the_mask_still_leaves_the_duct():
    # Partial volume widens the mask where two ducts divide: the lost twig's line starts at the
    # mask's edge, 4.5 mm from the centre-line here, and is 4.5 mm long.
    lost = path((4.5, 0, 15.0), (8.0, 0, 17.8))

    attached = attach_lost_twigs(duct_running_on_into_its_twig(), [lost])

    assert attached is not None
    assert abs(attached.branches[1].length_mm - 15.0) < 0.6


def test_a_line_that_comes_back_to_the_tree_is_a_link_not_a_twig():
    tree = duct_running_on_into_its_twig()
    link = path((1.5, 0, 15.5), (8, 0, 12), (14, 0, 10.5))  # ends on the other duct

    assert attach_lost_twigs(tree, [link]) is None


@pytest.mark.parametrize(
    "line",
    [
        path((1.5, 0, 15.5), (5, 0, 15.5)),  # 3.5 mm: too short to tell from a bump of the wall
        path((1.5, 0, 28.5), (9, 0, 20)),  # leaves 1.5 mm below the duct's fork: the fork is there already
        path((-1.5, 0, 1.5), (-9, 0, 10)),  # leaves at the duct's junction
        path((5.5, 0, 15.5), (14, 0, 25)),  # starts 5.5 mm off the duct: not leaving it
    ],
)
def test_lines_that_do_not_leave_a_duct_between_its_ends_change_nothing(line):
    assert attach_lost_twigs(duct_running_on_into_its_twig(), [line]) is None


def with_a_twig_coming_back(end: tuple[float, float, float], radius: float = 0.4) -> Tree:
    """The duct running on into the twig it kept, and the far part of the twig its fork lost,
    broken near that fork, hanging on the kept twig's far fork and coming back to ``end``."""
    tree = duct_running_on_into_its_twig()
    kept = tree.branches[2]
    back = branch(5, path(tuple(kept.upper), (6, 0, 26), end), radius, 2)
    onward = branch(6, path(tuple(kept.upper), (14, 0, 48)), 0.4, 2)
    kept.children = [5, 6]
    tree.branches.update({5: back, 6: onward})
    return tree


def test_a_twig_broken_near_its_fork_that_comes_back_to_the_duct_ends_the_duct_there():
    tree = with_a_twig_coming_back(end=(2.0, 0, 16))

    attached = attach_returning_twigs(tree, tree.branches[1].points)

    assert attached is not None
    duct = attached.branches[1]
    assert np.linalg.norm(duct.upper - [0, 0, 16]) < 0.6
    assert abs(duct.length_mm - 16.0) < 0.6
    rest, twig = (attached.branches[c] for c in duct.children)
    assert rest.children == [2, 3] and np.allclose(twig.points[-1], [2.0, 0, 16])
    assert tree.branches[1].length_mm == pytest.approx(30.0, abs=0.6)  # the tree given is left as it was


@pytest.mark.parametrize(
    ("end", "radius", "measured"),
    [
        ((4.5, 0, 16), 0.4, True),  # ends 4.5 mm from the duct's centre-line: not coming back to it
        ((2.0, 0, 28.5), 0.4, True),  # beside the duct's own fork: nothing to move
        ((2.0, 0, 16), 0.9, True),  # as wide as the duct: no twig of it
        ((2.0, 0, 16), 0.4, False),  # beside a duct the document does not measure
    ],
)
def test_leaves_that_do_not_come_back_to_a_measured_duct_change_nothing(end, radius, measured):
    tree = with_a_twig_coming_back(end=end, radius=radius)
    ducts = tree.branches[1].points if measured else tree.branches[4].points

    assert attach_returning_twigs(tree, ducts) is None


def test_a_twig_curling_back_beside_its_own_fork_is_no_twig_coming_back():
    tree = duct_running_on_into_its_twig()
    # Leaves the duct's fork at 30 mm and curls back to end 2 mm beside the duct, 3.5 mm below.
    tree.branches[5] = branch(5, path((0, 0, 30), (2, 0, 29), (2, 0, 26.5)), 0.4, 1)
    tree.branches[1].children.append(5)

    assert attach_returning_twigs(tree, tree.branches[1].points) is None


def test_only_twigs_leaving_a_duct_the_document_measures_are_forked():
    from imaging.tree import _leaving_measured_ducts
    from imaging.tree.label import Labelled

    centrelines = {"CHD": [(0.0, 0.0, -20.0), (0.0, 0.0, 0.0)], "RPHD": [tuple(p) for p in path((0, 0, 30), (0, 0, 0))]}
    labelled = Labelled({"ducts": []}, {}, {}, centrelines)
    on_the_duct = path((1.5, 0, 15.5), (9, 0, 25))
    beyond_its_end = path((1.5, 0, 45), (9, 0, 55))  # leaves a twig: no length changes
    on_the_trunk = path((1.5, 0, -10), (9, 0, -20))

    kept = _leaving_measured_ducts([on_the_duct, beyond_its_end, on_the_trunk], labelled)

    assert len(kept) == 1 and kept[0] is on_the_duct


@pytest.fixture(scope="module")
def lost_twig_phantom() -> tuple[dict[str, Any], np.ndarray, list[Any]]:
    """Segment 2's duct apart: at SNR 20 with 1.1 mm pixels the mask keeps one of the right
    posterior duct's two twigs and loses the other."""
    document = preset_document("lls_b2_separate")
    return document, *realistic_phantom(document, seed=1001)


def test_a_duct_whose_fork_lost_a_twig_is_measured_to_where_the_twig_leaves(lost_twig_phantom, monkeypatch):
    document, volume, geometries = lost_twig_phantom
    true_length = next(d["length_mm"] for d in document["ducts"] if d["id"] == "RPHD")

    def rphd(proposal: Any) -> float:
        return float(next(d["length_mm"] for d in proposal.document["ducts"] if d["id"] == "RPHD"))

    proposal = propose_tree(volume, geometries, graft=document["graft"])
    monkeypatch.setattr(tree_package, "attach_lost_twigs", lambda *_: None)
    without_twigs = propose_tree(volume, geometries, graft=document["graft"])

    assert abs(rphd(proposal) - true_length) < 2.0
    assert rphd(without_twigs) > true_length + 10.0  # it ran on into the twig the mask kept
    # A measurement, not a reading: the same ducts either way.
    assert shape(proposal.document) == shape(without_twigs.document)


def test_a_lost_twig_s_line_runs_from_where_it_leaves_the_mask_to_its_farthest_voxel():
    """A run of skeleton voxels forking into a short spur and a longer arm: the line is the path
    to the arm's end, voxel by neighbouring voxel, diagonal steps included."""
    stem = [(0, 0, k) for k in range(5)]
    arm = [(k, k, 4 + k) for k in range(1, 5)]  # diagonal steps from the stem's last voxel
    spur = [(0, -1, 5), (0, -2, 6)]
    voxels = np.array(sorted(stem + arm + spur))
    start = int(np.flatnonzero((voxels == (0, 0, 0)).all(axis=1))[0])

    line = _longest_path(voxels, start)

    assert [tuple(v) for v in line] == stem + arm
    assert (np.abs(np.diff(line, axis=0)).max(axis=1) == 1).all()
