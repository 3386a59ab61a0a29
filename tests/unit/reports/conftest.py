"""Fixtures of the reports unit tests."""

from __future__ import annotations

import pydicom
import pytest

from classification.presets import preset_document
from imaging.dicom import generate_series


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """The headers of a small phantom MRCP series, as the service reads them from storage."""
    folder = tmp_path_factory.mktemp("mrcp")
    truth = generate_series(
        preset_document("typical_right_lobe"),
        folder,
        slices=6,
        rows=48,
        columns=48,
        patient_id="MRN100037",
        patient_name="Demir^Elif",
    )
    return [pydicom.dcmread(path, stop_before_pixels=True) for path in truth.paths]
