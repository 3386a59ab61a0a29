"""The duct tree proposed from phantom MRCP series, against the documents that drew them.

The extractor sees only the voxels and the DICOM geometry; the document is used here
to judge its answer. Presets on which the current extractor is known to go wrong are
marked as expected failures (strict: a fix makes them fail until the mark is lifted).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pytest

from classification.anatomy import AnatomyInvalid
from classification.document import classify_document
from classification.presets import PRESETS, preset_document
from classification.validation import parse_anatomy
from imaging.dicom.geometry import Geometry
from imaging.dicom.phantom import PhantomSeries, generate_series
from imaging.dicom.phantom_realistic import Realism
from imaging.dicom.reader import read_instance
from imaging.dicom.volume import sort_slices, stack
from imaging.tree import TreeProposal, propose_tree

NAMES = sorted(PRESETS)
# Wrong type today: none.
TYPE_WRONG: set[str] = set()
# Right type, wrong exits: none.
EXITS_WRONG = TYPE_WRONG | set()
# Right exits, not every duct's place: a B2 joining the LHD beside a B3-B4 trunk.
TOPOLOGY_WRONG = EXITS_WRONG | {"lls_b2_separate"}
# Lengths are checked where the confluence and every junction are found.
LENGTH_CHECKED = ("typical_right_lobe", "accessory_duct", "rphd_into_chd", "lls_typical_trunk")
LENGTH_TOLERANCE_MM = 4.0
MEAN_LENGTH_TOLERANCE_MM = 2.5


def load(series: PhantomSeries) -> tuple[np.ndarray, list[Geometry]]:
    read = [read_instance(path, name=path.name) for path in series.paths]
    pixels = {header.sop_instance_uid: data for header, data in read}
    headers = sort_slices([header for header, _ in read])
    return stack([pixels[h.sop_instance_uid] for h in headers]), [Geometry.from_header(h) for h in headers]


@cache
def proposed(name: str, oblique_degrees: float = 0.0) -> tuple[dict[str, Any], TreeProposal, PhantomSeries]:
    document, volume, geometries, series = phantom(name, oblique_degrees)
    return document, propose_tree(volume, geometries, graft=document["graft"]), series


@cache
def phantom(
    name: str, oblique_degrees: float = 0.0
) -> tuple[dict[str, Any], np.ndarray, list[Geometry], PhantomSeries]:
    document = preset_document(name)
    volume, geometries, series = generated(
        document, slices=60, size=256, oblique_degrees=oblique_degrees, seed=1000 + NAMES.index(name)
    )
    return document, volume, geometries, series


def realistic_phantom(document: dict[str, Any], seed: int, snr: float = 20.0) -> tuple[np.ndarray, list[Geometry]]:
    """A realistic phantom (curved ducts, twigs, Rician noise, distracting fluid) of the hilum's
    neighbourhood: 80 slices of 192 x 192 pixels of 1.1 mm."""
    volume, geometries, _ = generated(document, slices=80, size=192, seed=seed, realism=Realism(snr=snr))
    return np.asarray(volume, dtype=np.float32), geometries


def generated(
    document: dict[str, Any], *, slices: int, size: int, **options: Any
) -> tuple[np.ndarray, list[Geometry], PhantomSeries]:
    """A phantom series of square slices with 1.1 mm pixels, read back from its files."""
    with TemporaryDirectory() as folder:
        series = generate_series(
            document, Path(folder), slices=slices, rows=size, columns=size, pixel_spacing=(1.1, 1.1), **options
        )
        volume, geometries = load(series)
    return volume, geometries, series


def known(failing: set[str]) -> list[Any]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="known extractor failure"))
        if name in failing
        else name
        for name in NAMES
    ]


def shape(document: dict[str, Any]) -> set[tuple[str, str, tuple[int, ...]]]:
    return {(d["id"], d["drains_into"], tuple(sorted(d.get("segments") or []))) for d in document["ducts"]}


@pytest.mark.parametrize("name", NAMES)
def test_every_proposal_is_a_valid_document_with_confidences_and_centre_lines(name):
    _, proposal, _ = proposed(name)
    try:
        parse_anatomy(proposal.document)
    except AnatomyInvalid as invalid:  # pragma: no cover - the message is the point
        pytest.fail(f"invalid proposal: {invalid.errors}")
    ids = {d["id"] for d in proposal.document["ducts"]}
    assert set(proposal.duct_confidence) == ids == set(proposal.junction_confidence)
    assert all(0.0 <= c <= 1.0 for c in [*proposal.duct_confidence.values(), *proposal.junction_confidence.values()])
    assert set(proposal.centrelines) == ids | {"CHD"}
    for duct in proposal.document["ducts"]:
        line = np.array(proposal.centrelines[duct["id"]])
        assert len(line) >= 2
        length = float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum())
        # The measured length follows the centre-line (smoothed, so never longer than the raw path).
        assert duct["length_mm"] <= length + 0.5
        assert duct["length_mm"] >= 0.8 * float(np.linalg.norm(line[-1] - line[0]))


def proposed_result(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = classify_document(document)["results"]["proposed"]
    return result


@pytest.mark.parametrize("name", known(TYPE_WRONG))
def test_proposed_type_is_the_true_one(name):
    document, proposal, _ = proposed(name)
    assert proposed_result(proposal.document)["type"] == proposed_result(document)["type"]


@pytest.mark.parametrize("name", known(EXITS_WRONG))
def test_proposed_exits_are_the_true_ones(name):
    document, proposal, _ = proposed(name)
    assert proposed_result(proposal.document)["exits"] == proposed_result(document)["exits"]


@pytest.mark.parametrize("name", known(TOPOLOGY_WRONG))
def test_every_duct_drains_where_the_document_says(name):
    document, proposal, _ = proposed(name)
    assert shape(proposal.document) == shape(document)


@pytest.mark.parametrize("name", LENGTH_CHECKED)
def test_lengths_along_the_centre_line_match_the_document(name):
    document, proposal, _ = proposed(name)
    got = {d["id"]: d for d in proposal.document["ducts"]}
    errors = {d["id"]: abs(got[d["id"]]["length_mm"] - d["length_mm"]) for d in document["ducts"] if "length_mm" in d}
    assert errors
    assert max(errors.values()) <= LENGTH_TOLERANCE_MM, errors
    assert sum(errors.values()) / len(errors) <= MEAN_LENGTH_TOLERANCE_MM, errors


def test_the_common_hepatic_duct_centre_line_lies_on_the_phantom_duct():
    _, proposal, series = proposed("typical_right_lobe")
    chd = series.structures["CHD"]
    start, end = np.array(chd.start), np.array(chd.end)
    axis = (end - start) / np.linalg.norm(end - start)
    line = np.array(proposal.centrelines["CHD"])
    along = (line - start) @ axis
    inside = line[(along > 3.0) & (along < chd.length_mm - 3.0)]
    assert len(inside) > 10
    off_axis = np.linalg.norm((inside - start) - np.outer((inside - start) @ axis, axis), axis=1)
    assert off_axis.max() < 2.0
    # The confluence (the CHD's upper end) is where the phantom's ducts meet.
    assert np.linalg.norm(line[0] - start) < 3.0


def test_an_oblique_slab_gives_the_same_tree():
    document, upright, _ = proposed("typical_right_lobe")
    _, oblique, _ = proposed("typical_right_lobe", 20.0)
    assert shape(oblique.document) == shape(upright.document) == shape(document)
    lengths = {d["id"]: d["length_mm"] for d in oblique.document["ducts"]}
    for duct in document["ducts"]:
        if "length_mm" in duct:
            assert abs(duct["length_mm"] - lengths[duct["id"]]) <= LENGTH_TOLERANCE_MM, duct["id"]


def test_bad_input_is_refused_with_the_reason():
    _, volume, geometries, _ = phantom("typical_right_lobe")
    with pytest.raises(ValueError, match="graft"):
        propose_tree(volume, geometries, graft="whole_liver")
    with pytest.raises(ValueError, match="one 2D slice per geometry"):
        propose_tree(volume, geometries[:-1], graft="right_lobe")
    with pytest.raises(ValueError, match="ordered"):
        propose_tree(volume[::-1], geometries[::-1], graft="right_lobe")
    with pytest.raises(ValueError, match="no bright fluid"):
        propose_tree(np.zeros_like(volume), geometries, graft="right_lobe")
