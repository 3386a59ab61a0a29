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

from imaging.dicom.geometry import Geometry

from .centreline import centre_lines
from .grid import SeriesGeometry
from .label import label
from .segment import segment

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
    segmented = segment(np.asarray(volume, dtype=np.float32), series)
    tree = centre_lines(segmented)
    labelled = label(tree, segmented.pockets, graft)
    return TreeProposal(labelled.document, labelled.duct_confidence, labelled.junction_confidence, labelled.centrelines)


__all__ = ["GRAFTS", "TreeProposal", "propose_tree"]
