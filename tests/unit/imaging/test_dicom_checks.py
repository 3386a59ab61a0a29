"""MRCP recognition and the plain-language warnings about accepted files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom.data
import pytest

from imaging.dicom import looks_like_mrcp, read_header, warnings

MR_SMALL = Path(pydicom.data.__file__).parent / "test_files" / "MR_small.dcm"


@pytest.fixture
def header():
    return dataclasses.replace(
        read_header(MR_SMALL, name="x"),
        series_description="",
        protocol_name="",
        echo_time=None,
        mr_acquisition_type="",
    )


def test_named_mrcp_is_recognised(header):
    for description in ("MRCP 3D", "cor mrcp thick slab", "Cholangiography 3D", "MR CHOLANGIO"):
        is_mrcp, reasons = looks_like_mrcp(dataclasses.replace(header, series_description=description))
        assert is_mrcp, description
        assert reasons[0].startswith("series description")
    is_mrcp, _ = looks_like_mrcp(dataclasses.replace(header, protocol_name="t2_space_mrcp_tra"))
    assert is_mrcp


def test_heavy_t2_3d_is_recognised_without_a_name(header):
    unnamed = dataclasses.replace(header, echo_time=650.0, mr_acquisition_type="3D", series_description="t2_spc_cor")
    is_mrcp, reasons = looks_like_mrcp(unnamed)
    assert is_mrcp
    assert "echo time 650 ms is long (>= 400 ms): heavily T2-weighted" in reasons
    assert "3D acquisition" in reasons


def test_ordinary_t2_is_not_mrcp(header):
    haste = dataclasses.replace(header, echo_time=90.0, mr_acquisition_type="2D", series_description="T2 HASTE cor")
    is_mrcp, reasons = looks_like_mrcp(haste)
    assert not is_mrcp
    assert "echo time 90 ms is short for MRCP (< 400 ms)" in reasons
    assert "2D acquisition, not 3D" in reasons
    # Long echo alone (a 2D thick slab without a name) is not enough.
    assert not looks_like_mrcp(dataclasses.replace(haste, echo_time=800.0))[0]


def test_non_mr_is_never_mrcp(header):
    ct = dataclasses.replace(header, modality="CT", series_description="MRCP")
    assert looks_like_mrcp(ct) == (False, ["modality CT is not MR"])
    assert warnings(ct)[0] == "modality CT is not MR: kept, never used as MRCP"


def test_warnings_name_what_is_missing(header):
    assert warnings(header) == []
    bare = dataclasses.replace(header, pixel_spacing=None, image_position=None, number_of_frames=3)
    assert warnings(bare) == [
        "no pixel spacing: distances cannot be measured on this image",
        "no image position/orientation: the slice cannot be placed in 3D",
    ]
    # A multi-frame image placed only by a top-level position cannot place its other frames.
    stacked = dataclasses.replace(header, number_of_frames=3)
    assert warnings(stacked) == [
        "multi-frame image (3 frames) without a position for each frame: its frames cannot be placed in 3D"
    ]
    refused = dataclasses.replace(
        header, number_of_frames=3, image_position=None, frame_geometry_refused="some frames carry no position"
    )
    assert warnings(refused) == ["multi-frame image: some frames carry no position; its frames cannot be placed in 3D"]
