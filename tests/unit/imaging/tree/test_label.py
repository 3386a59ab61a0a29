"""Naming the branches of a centre-line tree: rules checked on trees drawn by hand.

Coordinates are patient mm (DICOM LPS: +x the patient's left, +y posterior, +z cranial).
"""

from __future__ import annotations

import numpy as np

from imaging.tree.centreline import Branch, Tree
from imaging.tree.label import INFERRED_SHARE, label
from imaging.tree_output import LOW_CONFIDENCE, is_uncertain

CONFLUENCE = (0.0, 0.0, 0.0)


def straight(start: tuple[float, float, float], end: tuple[float, float, float]) -> np.ndarray:
    a, b = np.array(start), np.array(end)
    count = max(int(np.linalg.norm(b - a) / 0.5), 1) + 1
    return a + np.linspace(0.0, 1.0, count)[:, None] * (b - a)


class Drawing:
    """A tree drawn branch by branch, each from its parent's upper end."""

    def __init__(self) -> None:
        self.branches: dict[int, Branch] = {}

    def add(
        self,
        end: tuple[float, float, float],
        radius: float,
        parent: int | None = None,
        start: tuple[float, float, float] | None = None,
    ) -> int:
        index = len(self.branches)
        lower = tuple(self.branches[parent].upper) if parent is not None else start
        assert lower is not None
        points = straight(lower, end)
        self.branches[index] = Branch(
            index, points, np.full(len(points), radius, dtype=np.float32), np.ones(len(points)), parent
        )
        if parent is not None:
            self.branches[parent].children.append(index)
        return index

    def tree(self) -> Tree:
        return Tree(self.branches, 0, 0)


def left_lobe(drawing: Drawing, confluence: int) -> None:
    lhd = drawing.add((15.0, 0.0, 5.0), 1.8, confluence)
    drawing.add((40.0, 10.0, 35.0), 1.5, lhd)  # segment 2
    drawing.add((45.0, -10.0, 5.0), 1.5, lhd)  # segment 3
    drawing.add((25.0, -10.0, 25.0), 1.5, lhd)  # segment 4


def ducts(tree: Tree) -> dict[str, dict]:
    document = label(tree, None, "right_lobe").document
    return {d["id"]: d for d in document["ducts"]}


def typical_hilum(right_hepatic_end: tuple[float, float, float]) -> Tree:
    """The common hepatic duct, the left lobe's ducts, and a right hepatic duct ending at
    ``right_hepatic_end`` in its anterior and posterior ducts."""
    drawing = Drawing()
    chd = drawing.add(CONFLUENCE, 3.0, start=(0.0, 0.0, -40.0))
    left_lobe(drawing, chd)
    rhd = drawing.add(right_hepatic_end, 1.8, chd)
    drawing.add((-30.0, -10.0, 10.0), 1.5, rhd)  # anterior
    drawing.add((-45.0, 10.0, 0.0), 1.5, rhd)  # posterior
    return drawing.tree()


def test_a_right_hepatic_duct_a_millimetre_long_is_a_trifurcation():
    found = ducts(typical_hilum((-1.0, 0.0, 0.5)))

    assert "RHD" not in found
    assert found["RAHD"]["drains_into"] == "CHD"
    assert found["RPHD"]["drains_into"] == "CHD"
    assert found["LHD"]["drains_into"] == "CHD"
    assert all("junction_mm" not in found[d] for d in ("RAHD", "RPHD", "LHD"))


def test_a_right_hepatic_duct_long_enough_to_see_stays_one():
    found = ducts(typical_hilum((-8.0, 0.0, 2.0)))

    assert found["RHD"]["drains_into"] == "CHD"
    assert found["RAHD"]["drains_into"] == "RHD"
    assert found["RPHD"]["drains_into"] == "RHD"


def right_fork_pointing_forwards(drawing: Drawing, confluence: int) -> None:
    """A right hepatic duct whose two sectoral ducts both point into the anterior sector
    (the posterior one curves forwards): one points a little more backwards."""
    rhd = drawing.add((-12.0, 0.0, 2.0), 2.0, confluence)
    drawing.add((-40.0, -8.0, 20.0), 1.5, rhd)
    drawing.add((-45.0, -8.0, 0.0), 1.5, rhd)


def test_a_fork_of_two_ducts_into_one_sector_drains_the_sector_no_other_duct_drains():
    drawing = Drawing()
    chd = drawing.add(CONFLUENCE, 3.0, start=(0.0, 0.0, -40.0))
    left_lobe(drawing, chd)
    right_fork_pointing_forwards(drawing, chd)

    proposal = label(drawing.tree(), None, "right_lobe")
    found = {d["id"]: d for d in proposal.document["ducts"]}

    assert found["RHD"]["drains_into"] == "CHD"
    assert found["RAHD"]["drains_into"] == "RHD" and found["RAHD"]["segments"] == [5, 8]
    assert found["RPHD"]["drains_into"] == "RHD" and found["RPHD"]["segments"] == [6, 7]
    # The branch lower on the right (pointing less cranially) is the posterior one.
    assert proposal.centrelines["RPHD"][0][2] < proposal.centrelines["RAHD"][0][2]
    # Named by the rule, not by where they point: marked less sure.
    assert proposal.duct_confidence["RPHD"] <= INFERRED_SHARE


def test_the_fork_stays_one_duct_when_the_other_sector_drains_elsewhere():
    drawing = Drawing()
    lower = drawing.add((0.0, 0.0, -8.0), 3.0, start=(0.0, 0.0, -40.0))
    chd = drawing.add(CONFLUENCE, 3.0, lower)
    drawing.add((-45.0, 12.0, -5.0), 1.5, lower)  # a posterior duct into the common hepatic duct
    left_lobe(drawing, chd)
    right_fork_pointing_forwards(drawing, chd)

    found = ducts(drawing.tree())

    assert "RHD" not in found
    assert found["RAHD"]["drains_into"] == "CHD"
    assert found["RPHD"]["drains_into"] == "CHD"
    assert found["RPHD"]["junction_mm"] == 8.0


def chd_and_right_liver() -> tuple[Drawing, int]:
    """The common hepatic duct with the right hepatic duct and its two sectoral ducts;
    returns the drawing and the common hepatic duct's index."""
    drawing = Drawing()
    chd = drawing.add(CONFLUENCE, 3.0, start=(0.0, 0.0, -40.0))
    rhd = drawing.add((-8.0, 0.0, 2.0), 1.8, chd)
    drawing.add((-30.0, -10.0, 10.0), 1.5, rhd)
    drawing.add((-45.0, 10.0, 0.0), 1.5, rhd)
    return drawing, chd


def test_a_segment_4_duct_pointing_like_segment_2_drains_segment_4_and_the_left_duct_is_named():
    drawing, chd = chd_and_right_liver()
    lhd = drawing.add((10.0, 0.0, 5.0), 1.8, chd)
    b23 = drawing.add((17.0, 0.0, 8.0), 1.6, lhd)
    drawing.add((40.0, 12.0, 35.0), 1.5, b23)
    drawing.add((45.0, -12.0, 5.0), 1.5, b23)
    drawing.add((19.0, 2.0, 24.0), 1.5, lhd)  # steep: closer to segment 2's direction than to 4's

    found = ducts(drawing.tree())

    assert found["LHD"]["drains_into"] == "CHD"
    assert found["B23"]["drains_into"] == "LHD"
    assert found["B4"]["drains_into"] == "LHD" and found["B4"]["segments"] == [4]
    assert found["B2"]["drains_into"] == "B23" and found["B3"]["drains_into"] == "B23"


def left_lobe_measured_thin(
    trunk_radius: float, segment_4_end: tuple[float, float, float] = (25.0, -12.0, 30.0)
) -> Tree:
    """A left duct whose branches all measure under the twig calibre (1.38 mm beside a
    common hepatic duct of 3 mm), as segmental ducts do with coarse pixels: a trunk of
    ``trunk_radius`` forking into the segment 2 and 3 ducts, and the segment 4 duct."""
    drawing, chd = chd_and_right_liver()
    lhd = drawing.add((15.0, 0.0, 5.0), 1.8, chd)
    b23 = drawing.add((25.0, 0.0, 15.0), trunk_radius, lhd)
    drawing.add(segment_4_end, trunk_radius, lhd)  # segment 4
    drawing.add((45.0, 10.0, 40.0), 1.0, b23)  # segment 2
    drawing.add((50.0, -10.0, 10.0), 1.0, b23)  # segment 3
    return drawing.tree()


def test_segmental_ducts_as_thin_as_twigs_still_drain_the_sector_no_other_duct_drains():
    # The segment 2-3 trunk is of duct calibre; its two branches measure as thin as twigs.
    proposal = label(left_lobe_measured_thin(1.5), None, "left_lateral_segment")
    found = {d["id"]: d for d in proposal.document["ducts"]}

    assert found["LHD"]["drains_into"] == "CHD"
    assert found["B23"]["drains_into"] == "LHD"
    assert found["B2"]["drains_into"] == "B23" and found["B2"]["segments"] == [2]
    assert found["B3"]["drains_into"] == "B23" and found["B3"]["segments"] == [3]
    assert found["B4"]["drains_into"] == "LHD" and found["B4"]["segments"] == [4]
    # Named by the rule for a missing sector: marked less sure.
    assert proposal.duct_confidence["B2"] <= INFERRED_SHARE


def test_two_sectors_left_empty_each_drained_by_the_branch_pointing_into_it():
    # Every branch of the left duct is under the twig calibre: the left duct alone is read
    # first, draining one sector, with segments 3 and 4 empty. Its branches point into
    # segment 2 (the 2-3 trunk) and segment 4: each drains its own, then the 2-3 trunk's
    # branches part segments 2 and 3 (naming segment 3 first would give it to the segment 4
    # duct, and pair segments 3 and 4).
    found = ducts(left_lobe_measured_thin(1.2))

    assert "B34" not in found
    assert found["B23"]["drains_into"] == "LHD"
    assert found["B2"]["drains_into"] == "B23" and found["B3"]["drains_into"] == "B23"
    assert found["B4"]["drains_into"] == "LHD" and found["B4"]["segments"] == [4]


def test_a_left_duct_pointing_towards_the_right_liver_drains_the_left_sector_it_points_into_most():
    # The segment 4 duct curves forwards to the midline: of all sectors it points into the
    # right anterior one, of the left liver's into segment 4.
    found = ducts(left_lobe_measured_thin(1.2, segment_4_end=(12.0, -16.0, 4.0)))

    assert found["B4"]["drains_into"] == "LHD" and found["B4"]["segments"] == [4]
    assert found["B2"]["drains_into"] == "B23" and found["B3"]["drains_into"] == "B23"
    assert found["RAHD"]["drains_into"] == "RHD"


def left_lobe_with_segment_4_beside(lateral_end, paired_end) -> Tree:
    """A left duct forking into a lateral duct ending at ``lateral_end`` and a trunk that
    forks into another lateral duct, ending at ``paired_end``, and the segment 4 duct."""
    drawing, chd = chd_and_right_liver()
    lhd = drawing.add((15.0, 0.0, 5.0), 1.8, chd)
    drawing.add(lateral_end, 1.5, lhd)
    trunk = drawing.add((22.9, -2.4, 10.7), 1.6, lhd)
    drawing.add(paired_end, 1.5, trunk)
    drawing.add((27.5, -9.8, 28.7), 1.5, trunk)  # segment 4
    return drawing.tree()


def test_the_lateral_duct_sharing_a_trunk_with_segment_4s_is_segment_3s_when_neither_points_clearly():
    # The lateral duct apart runs level and a little back, the one beside segment 4's rises
    # and a little forward: by the atlas alone they would read as segments 3 and 2, and
    # segment 2 paired with segment 4.
    proposal = label(
        left_lobe_with_segment_4_beside(lateral_end=(38.75, 8.0, 5.25), paired_end=(43.1, -4.4, 19.1)),
        None,
        "left_lateral_segment",
    )
    found = {d["id"]: d for d in proposal.document["ducts"]}

    assert "B24" not in found
    assert found["B34"]["drains_into"] == "LHD"
    assert found["B3"]["drains_into"] == "B34" and found["B4"]["drains_into"] == "B34"
    assert found["B2"]["drains_into"] == "LHD" and found["B2"]["segments"] == [2]
    assert proposal.duct_confidence["B2"] < LOW_CONFIDENCE and proposal.duct_confidence["B3"] < LOW_CONFIDENCE


def test_lateral_ducts_pointing_clearly_into_their_segments_keep_their_names_whatever_they_pair_with():
    found = ducts(left_lobe_with_segment_4_beside(lateral_end=(45.0, -12.0, 5.0), paired_end=(40.0, 12.0, 35.0)))

    assert found["B24"]["drains_into"] == "LHD"
    assert found["B2"]["drains_into"] == "B24" and found["B3"]["drains_into"] == "LHD"


def test_the_common_bile_duct_thinned_by_a_pockets_cut_still_leads_up_to_the_confluence():
    from scipy.spatial import cKDTree

    # The common bile duct runs 4 mm beside the duodenum from 50 to 10 mm below the
    # confluence: the cut of the duodenum's rim leaves it 0.8 mm in radius there.
    drawing = Drawing()
    lowest = drawing.add((0.0, 0.0, -50.0), 3.0, start=(0.0, 0.0, -65.0))
    beside = drawing.add((0.0, 0.0, -10.0), 0.8, lowest)
    drawing.add((-6.0, 3.0, -54.0), 2.5, lowest)  # a stub of the cut, on the rim
    chd = drawing.add(CONFLUENCE, 3.0, beside)
    left_lobe(drawing, chd)
    rhd = drawing.add((-8.0, 0.0, 2.0), 1.8, chd)
    drawing.add((-30.0, -10.0, 10.0), 1.5, rhd)
    drawing.add((-45.0, 10.0, 0.0), 1.5, rhd)
    duodenum = cKDTree([(x, 0.0, z) for x in (4.0, 6.0, 8.0) for z in np.arange(-60.0, -12.0, 1.0)])

    found = {d["id"]: d for d in label(drawing.tree(), duodenum, "right_lobe").document["ducts"]}

    assert found["RHD"]["drains_into"] == "CHD" and found["LHD"]["drains_into"] == "CHD"
    assert found["RAHD"]["drains_into"] == "RHD" and found["RPHD"]["drains_into"] == "RHD"
    assert not any(duct.startswith("D") for duct in found)


def across_neck(neck: tuple[float, float, float], entry: tuple[float, float, float], tip: tuple[float, float, float]):
    """A duct joined to the cystic duct across the gallbladder's neck: neck, then its own course."""
    from imaging.tree.label import Node, _node

    points = np.vstack([np.array(neck), straight(entry, tip)])
    branch = Branch(99, points, np.full(len(points), 1.2, dtype=np.float32), np.ones(len(points)), None)
    branch.across_pocket = True
    node = _node(Tree({99: branch}, 99, 0), branch, thin=0.5)
    assert isinstance(node, Node) and node.unit
    return node


def emitted(pending) -> dict[str, dict]:
    from imaging.tree.label import Duct, _document, _emit

    ducts: list[Duct] = [Duct(0, "CYSTIC", "CHD", 10.0, straight((0, 0, -10), (-20, 5, -20)), [], 1, 1, False, 22)]
    for node, into, at in pending:
        _emit(node, into, at, ducts)
    document = _document(ducts, "right_lobe", straight((0, 0, -40), CONFLUENCE)).document
    return {d["id"]: d for d in document["ducts"]}


def test_sectoral_ducts_entering_the_gallbladders_neck_side_by_side_join_behind_it():
    from imaging.tree.label import _hidden_junctions

    neck = (-20.0, 5.0, -20.0)
    anterior = across_neck(neck, (-26.0, 0.0, -14.0), (-40.0, -10.0, 5.0))
    posterior = across_neck(neck, (-28.0, 6.0, -15.0), (-55.0, 12.0, -10.0))
    assert {anterior.sector, posterior.sector} == {"RAHD", "RPHD"}

    found = emitted(_hidden_junctions([(anterior, 0, 0.0), (posterior, 0, 0.0)]))

    assert found["RHD"]["drains_into"] == "CYSTIC"
    assert found["RAHD"]["drains_into"] == "RHD" and found["RPHD"]["drains_into"] == "RHD"
    # From the neck to the middle of where they enter: about 9 mm.
    assert 7.0 < found["RHD"]["length_mm"] < 11.0


def test_ducts_pointing_into_one_sector_entering_the_neck_side_by_side_join_behind_it_too():
    from imaging.tree.label import _hidden_junctions, _share_sectors

    # Both point forwards: with coarse pixels the two sectors part mostly from front to back,
    # where a coronal slab resolves direction least.
    neck = (-20.0, 5.0, -20.0)
    first = across_neck(neck, (-26.0, 0.0, -14.0), (-40.0, -10.0, 5.0))
    second = across_neck(neck, (-28.0, 3.0, -15.0), (-50.0, -4.0, -2.0))
    assert first.sector == second.sector == "RAHD"

    pending = _hidden_junctions([(first, 0, 0.0), (second, 0, 0.0)])
    _share_sectors([node for node, _, _ in pending])  # as `label` does next
    found = emitted(pending)

    assert found["RHD"]["drains_into"] == "CYSTIC"
    assert found["RAHD"]["drains_into"] == "RHD" and found["RPHD"]["drains_into"] == "RHD"


def test_ducts_entering_the_neck_far_apart_drain_into_the_cystic_duct_each():
    from imaging.tree.label import _hidden_junctions

    neck = (-20.0, 5.0, -20.0)
    anterior = across_neck(neck, (-22.0, -8.0, -6.0), (-40.0, -10.0, 5.0))
    posterior = across_neck(neck, (-34.0, 8.0, -22.0), (-55.0, 12.0, -10.0))

    found = emitted(_hidden_junctions([(anterior, 0, 0.0), (posterior, 0, 0.0)]))

    assert "RHD" not in found
    assert found["RAHD"]["drains_into"] == "CYSTIC" and found["RPHD"]["drains_into"] == "CYSTIC"


def test_a_junction_of_ducts_is_as_sure_as_its_least_sure_branch_whichever_way_it_points():
    # The left duct runs on between segments 2, 3 and 4: where it points names no sector,
    # and its name comes from the sectors its branches drain.
    labelled = label(typical_hilum((-12.0, 0.0, 3.0)), None, "right_lobe")

    confidence = labelled.duct_confidence
    assert {"LHD", "B2", "B3", "B4", "RHD", "RAHD", "RPHD"} <= set(confidence)
    assert confidence["LHD"] == min(confidence[d] for d in ("B2", "B3", "B4"))
    assert confidence["RHD"] == min(confidence["RAHD"], confidence["RPHD"])
    # Branches pointing clearly into their sectors: no junction of them is marked uncertain.
    assert min(confidence.values()) >= LOW_CONFIDENCE


GALLBLADDER_CENTRE = np.array([-37.0, 9.0, -44.0])


def gallbladder(radius: float = 8.0):
    """A pocket of fluid: the points of a ball, as `segment` leaves them for the naming."""
    from scipy.spatial import cKDTree

    span = np.arange(-radius, radius + 0.5, 1.0)
    grid = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    return cKDTree(GALLBLADDER_CENTRE + grid[np.linalg.norm(grid, axis=1) <= radius])


def hilum_with_a_duct_towards_the_gallbladder(direct_branch: bool) -> Tree:
    """The usual hilum on a common hepatic duct drawn in stretches; from 25 mm below the
    confluence a duct runs towards the gallbladder and stops 12 mm short of it (the mask lost
    its thin end). With ``direct_branch``, another duct, 32 mm below, reaches the gallbladder."""
    drawing = Drawing()
    lowest = drawing.add((0.0, 0.0, -32.0), 3.0, start=(0.0, 0.0, -45.0))
    middle = drawing.add((0.0, 0.0, -25.0), 3.0, lowest)
    chd = drawing.add(CONFLUENCE, 3.0, middle)
    left_lobe(drawing, chd)
    rhd = drawing.add((-8.0, 0.0, 2.0), 1.8, chd)
    drawing.add((-30.0, -10.0, 10.0), 1.5, rhd)  # anterior
    drawing.add((-45.0, 10.0, 0.0), 1.5, rhd)  # posterior
    drawing.add((-20.0, 5.0, -35.0), 1.0, middle)  # towards the gallbladder, 12 mm short
    if direct_branch:
        drawing.add((-30.0, 4.0, -40.0), 1.0, lowest)  # reaching it
    return drawing.tree()


def test_a_duct_whose_end_points_at_the_gallbladder_is_the_cystic_duct():
    tree = hilum_with_a_duct_towards_the_gallbladder(direct_branch=False)

    found = {d["id"]: d for d in label(tree, gallbladder(), "right_lobe").document["ducts"]}

    assert found["CYSTIC"]["drains_into"] == "CHD"
    assert abs(found["CYSTIC"]["junction_mm"] - 25.0) < 1.0
    assert {"RAHD", "RPHD", "RHD", "LHD"} <= set(found)


def test_a_duct_reaching_the_gallbladder_is_the_cystic_duct_before_one_only_pointing_at_it():
    tree = hilum_with_a_duct_towards_the_gallbladder(direct_branch=True)

    found = {d["id"]: d for d in label(tree, gallbladder(), "right_lobe").document["ducts"]}

    assert abs(found["CYSTIC"]["junction_mm"] - 32.0) < 1.0
    assert sum(d["id"] == "CYSTIC" for d in found.values()) == 1


def hilum_with_a_duct_passing_the_gallbladders_neck(gap: float) -> Tree:
    """The common hepatic duct, the left lobe's ducts and the right anterior duct from the
    confluence; from 25 mm below it a duct runs to ``gap`` mm off the gallbladder and on, 25 mm,
    up into the right liver: with no stub of the neck, the skeleton does not fork there."""
    drawing = Drawing()
    middle = drawing.add((0.0, 0.0, -25.0), 3.0, start=(0.0, 0.0, -45.0))
    chd = drawing.add(CONFLUENCE, 3.0, middle)
    left_lobe(drawing, chd)
    drawing.add((-30.0, -10.0, 10.0), 1.5, chd)  # right anterior
    neck = tuple(GALLBLADDER_CENTRE + (0.0, 0.0, 8.0 + gap))
    points = np.vstack([straight((0.0, 0.0, -25.0), neck), straight(neck, (-50.0, 14.0, -13.0))[1:]])
    index = len(drawing.branches)
    drawing.branches[index] = Branch(
        index, points, np.full(len(points), 1.2, dtype=np.float32), np.ones(len(points)), middle
    )
    drawing.branches[middle].children.append(index)
    return drawing.tree()


def test_a_duct_passing_the_gallbladders_neck_drains_into_the_cystic_duct_there():
    tree = hilum_with_a_duct_passing_the_gallbladders_neck(gap=2.0)

    found = {d["id"]: d for d in label(tree, gallbladder(), "right_lobe").document["ducts"]}

    assert found["CYSTIC"]["drains_into"] == "CHD"
    assert abs(found["CYSTIC"]["junction_mm"] - 25.0) < 1.0
    assert found["RPHD"]["drains_into"] == "CYSTIC"
    assert abs(found["RPHD"]["length_mm"] - 25.2) < 1.0  # from the neck, not from the common duct
    assert found["RAHD"]["drains_into"] == "CHD"
    assert len(tree.branches) == 8  # the tree given is left whole


def test_a_duct_passing_well_clear_of_the_gallbladder_is_not_parted():
    tree = hilum_with_a_duct_passing_the_gallbladders_neck(gap=5.0)

    found = {d["id"]: d for d in label(tree, gallbladder(), "right_lobe").document["ducts"]}

    assert found["RPHD"]["drains_into"] == "CHD"
    assert "CYSTIC" not in found


def left_lobe_with_a_branch_pointing_right(branch_end: tuple[float, float, float]) -> Tree:
    """The common hepatic duct, the right anterior duct from the confluence, and a left duct
    whose far fork has, beside the segment 2 and 3 ducts, a branch turning back towards the
    right liver and ending at ``branch_end`` (as the far part of a broken duct hung on the
    left tree does)."""
    drawing = Drawing()
    chd = drawing.add(CONFLUENCE, 3.0, start=(0.0, 0.0, -40.0))
    drawing.add((-30.0, -10.0, 10.0), 1.5, chd)  # right anterior
    lhd = drawing.add((15.0, 0.0, 5.0), 1.8, chd)
    drawing.add((25.0, -10.0, 25.0), 1.5, lhd)  # segment 4
    far = drawing.add((40.0, 2.0, 10.0), 1.6, lhd)
    drawing.add((60.0, 12.0, 40.0), 1.5, far)  # segment 2
    drawing.add((65.0, -10.0, 8.0), 1.5, far)  # segment 3
    drawing.add(branch_end, 1.5, far)
    return drawing.tree()


def test_a_right_duct_read_wholly_in_the_left_liver_is_marked_uncertain():
    labelled = label(left_lobe_with_a_branch_pointing_right((22.0, 14.0, 2.0)), None, "right_lobe")

    by_id = {d["id"]: d for d in labelled.document["ducts"]}
    assert by_id["RPHD"]["segments"] == [6, 7]  # it points right and back: named for the posterior sector
    assert labelled.duct_confidence["RPHD"] < LOW_CONFIDENCE
    # Ducts read where their names say stay sure.
    assert labelled.duct_confidence["RAHD"] >= LOW_CONFIDENCE
    assert labelled.duct_confidence["B2"] >= LOW_CONFIDENCE


def test_a_second_duct_of_a_sector_read_wholly_in_the_other_liver_drains_that_liver():
    # The left duct's far fork has a twig pointing forwards, up and back towards the hilum,
    # into the right anterior sector, which the right anterior duct from the confluence
    # drains already.
    labelled = label(left_lobe_with_a_branch_pointing_right((30.0, -8.0, 20.0)), None, "right_lobe")

    by_id = {d["id"]: d for d in labelled.document["ducts"]}
    assert by_id["RAHD"]["drains_into"] == "CHD" and by_id["RAHD"]["segments"] == [5, 8]
    on_the_left = [d for d in by_id.values() if d["drains_into"] not in ("CHD", "CYSTIC")]
    assert all(set(d.get("segments") or []) <= {2, 3, 4} for d in on_the_left)
    # It points most into segment 4, which the segment 4 duct drains: an accessory duct.
    twig = next(d for d in on_the_left if d["id"].startswith("ACC"))
    assert twig["segments"] == [4]


def test_a_junction_no_name_fits_is_marked_uncertain_and_so_is_where_its_branches_drain():
    # The segment 2 and 3 ducts and the branch read as the right posterior duct join in one
    # duct: no liver joins those sectors so, and the reading leaves it unnamed.
    labelled = label(left_lobe_with_a_branch_pointing_right((22.0, 14.0, 2.0)), None, "right_lobe")

    by_id = {d["id"]: d for d in labelled.document["ducts"]}
    assert {by_id[d]["drains_into"] for d in ("B2", "B3", "RPHD")} == {"D1"}
    assert labelled.duct_confidence["D1"] < LOW_CONFIDENCE
    for duct in ("B2", "B3", "RPHD"):
        assert is_uncertain(labelled.duct_confidence[duct], labelled.junction_confidence[duct])
    assert not is_uncertain(labelled.duct_confidence["B4"], labelled.junction_confidence["B4"])


def test_a_right_posterior_duct_draining_into_the_left_duct_but_reaching_the_right_liver_stays_sure():
    drawing = Drawing()
    chd = drawing.add(CONFLUENCE, 3.0, start=(0.0, 0.0, -40.0))
    drawing.add((-30.0, -10.0, 10.0), 1.5, chd)  # right anterior
    lhd = drawing.add((8.0, 0.0, 3.0), 1.8, chd)
    drawing.add((-45.0, 10.0, 0.0), 1.5, lhd)  # right posterior, across the confluence into the right liver
    left = drawing.add((15.0, 0.0, 5.0), 1.8, lhd)
    drawing.add((40.0, 10.0, 35.0), 1.5, left)
    drawing.add((45.0, -10.0, 5.0), 1.5, left)
    drawing.add((25.0, -10.0, 25.0), 1.5, left)

    labelled = label(drawing.tree(), None, "right_lobe")

    by_id = {d["id"]: d for d in labelled.document["ducts"]}
    assert by_id["RPHD"]["drains_into"] == "LHD"
    assert labelled.duct_confidence["RPHD"] >= LOW_CONFIDENCE
