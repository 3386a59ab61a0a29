"""The biliary tree proposed from a 3D MRCP series: voxels and geometry in, a
`biliary-anatomy/1` document out, with a confidence for each duct and junction and
the centre-lines in patient coordinates (mm, DICOM LPS). Pure: no Django.

The proposal is a proposal: a radiologist checks and confirms it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from imaging.dicom.geometry import Geometry
from imaging.tree_output import undrained_segments

from .centreline import (
    LOST_TWIG_ATTACH_MM,
    Tree,
    attach_lost_twigs,
    attach_returning_twigs,
    centre_lines,
    moved_forks,
    part_late_forks,
)
from .grid import SeriesGeometry
from .label import Labelled, label
from .segment import Fluid, find_fluid, lost_twig_lines, tree_mask

GRAFTS = ("right_lobe", "left_lateral_segment", "left_lobe")


@dataclass(frozen=True)
class TreeProposal:
    """``document`` is a `biliary-anatomy/1` document; confidences (0-1) are keyed by
    duct id, a junction's by the id of the duct that joins there; ``centrelines``
    run from each duct's upper end to its junction (the CHD's from the confluence down)."""

    document: dict[str, Any]
    duct_confidence: dict[str, float]
    junction_confidence: dict[str, float]
    centrelines: dict[str, list[tuple[float, float, float]]]


def propose_tree(volume: np.ndarray, geometries: Sequence[Geometry], *, graft: str) -> TreeProposal:
    """Propose the duct tree of one 3D MRCP series.

    ``volume`` is (slice, row, column), slices ordered along their normal (see
    ``imaging.dicom.volume.sort_slices`` and ``stack``), one geometry per slice.
    Raises ``ValueError`` with the reason when no tree can be found.
    """
    if graft not in GRAFTS:
        raise ValueError(f"graft: must be one of {', '.join(GRAFTS)}")
    if volume.ndim != 3 or len(volume) != len(geometries):
        raise ValueError("volume: one 2D slice per geometry is needed")
    series = SeriesGeometry.from_slices(geometries)
    fluid = find_fluid(np.asarray(volume, dtype=np.float32), series)
    labelled = _read(fluid, graft, keep_rims=False)
    if undrained_segments(labelled.document):
        # Every liver drains each sector: a sector left undrained is a duct missed. The
        # likeliest place is a pocket's rim (a duct lying on the gallbladder's wall).
        try:
            second = _read(fluid, graft, keep_rims=True)
        except ValueError:
            second = None
        if second is not None and second_look_is_better(labelled.document, second.document):
            labelled = second
    return TreeProposal(labelled.document, labelled.duct_confidence, labelled.junction_confidence, labelled.centrelines)


def _read(fluid: Fluid, graft: str, *, keep_rims: bool) -> Labelled:
    segmented = tree_mask(fluid, keep_rims=keep_rims)
    tree = centre_lines(segmented)
    labelled = label(tree, segmented.pockets, graft)
    twigs = attach_lost_twigs(tree, _leaving_measured_ducts(lost_twig_lines(fluid, segmented), labelled))
    tree, labelled = _remeasured(tree, labelled, twigs, segmented.pockets, graft)
    returning = attach_returning_twigs(tree, _measured_points(labelled))
    tree, labelled = _remeasured(tree, labelled, returning, segmented.pockets, graft)
    voxel_mm = segmented.grid.voxel_mm
    parted = part_late_forks(tree, voxel_mm)
    remeasured_tree, remeasured = _remeasured(tree, labelled, parted, segmented.pockets, graft)
    if parted is None or remeasured_tree is parted:
        return remeasured
    # One fork whose moving would change the reading leaves the others free to move: each is
    # then moved on its own, and kept when the reading stays the same.
    for index in moved_forks(tree, parted):
        one = part_late_forks(tree, voxel_mm, [index])
        tree, labelled = _remeasured(tree, labelled, one, segmented.pockets, graft)
    return labelled


def _measured_points(labelled: Labelled) -> np.ndarray:
    """The points of the centre-lines of the ducts the document measures (the CHD's aside)."""
    ducts = [np.asarray(points) for name, points in labelled.centrelines.items() if name != "CHD"]
    return np.vstack(ducts) if ducts else np.empty((0, 3))


def _leaving_measured_ducts(lines: list[np.ndarray], labelled: Labelled) -> list[np.ndarray]:
    """The lost twigs' lines that leave a duct the document measures. A twig leaving a twig
    beyond every duct's end changes no length, only where that twig's duct is read to point."""
    points = _measured_points(labelled)
    if not len(points) or not lines:
        return []
    measured = cKDTree(points)
    return [line for line in lines if float(measured.query(line[0])[0]) <= LOST_TWIG_ATTACH_MM]


def _remeasured(
    tree: Tree, labelled: Labelled, changed: Tree | None, pockets: cKDTree | None, graft: str
) -> tuple[Tree, Labelled]:
    """The changed tree and its reading when it reads the same ducts, else the tree as it was.

    Forking where a lost twig leaves, and moving a junction back to where its ducts part, are
    measurements, not readings: where either would change which ducts are read, the fork's
    place is too uncertain to move."""
    if changed is None:
        return tree, labelled
    remeasured = label(changed, pockets, graft)
    if _shape(remeasured.document) == _shape(labelled.document):
        return changed, remeasured
    return tree, labelled


def second_look_is_better(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """The second look is taken only when it drains more of the liver and keeps every duct of the
    first as it was (its id, the duct it drains into and its segments): it may add what the first
    missed, never change what the first found."""
    return len(undrained_segments(second)) < len(undrained_segments(first)) and _shape(first) <= _shape(second)


def _shape(document: dict[str, Any]) -> set[tuple[str, str, tuple[int, ...]]]:
    return {(d["id"], d["drains_into"], tuple(sorted(d.get("segments") or ()))) for d in document["ducts"]}


__all__ = ["GRAFTS", "TreeProposal", "propose_tree", "second_look_is_better", "undrained_segments"]
