"""The issued report's PDF as a DICOM Encapsulated PDF instance: identity copied from the study, the
SR referenced, the PDF intact, and dciodvfy finds no error in it."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from classification.presets import preset_document
from imaging.dicom import generate_series
from reports.dicom_pdf import (
    ENCAPSULATED_PDF_STORAGE,
    Patient,
    encapsulated_pdf,
    identity_of,
    own_study_identity,
    pdf_of,
)

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"  # odd length on purpose
ISSUED = datetime(2026, 3, 4, 10, 20, 30)


def _image_header(tmp_path: Path) -> Dataset:
    series = generate_series(
        preset_document("typical_right_lobe"),
        tmp_path,
        slices=2,
        rows=16,
        columns=16,
        patient_id="MRN-PDF",
        patient_name="Donor^Dana",
    )
    return pydicom.dcmread(sorted(series.paths)[0], stop_before_pixels=True)


def _sr() -> Dataset:
    sr = Dataset()
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.34"
    sr.SOPInstanceUID = "2.25.1234"
    return sr


def _written(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_the_pdf_joins_the_images_study_with_their_identity_and_names_the_sr(tmp_path):
    header = _image_header(tmp_path)
    ds = encapsulated_pdf(
        PDF,
        identity=identity_of(header),
        title="Suitability report v1",
        issued_at=ISSUED,
        instance_key="donor-1-v1",
        source_sr=_sr(),
    )
    back = pydicom.dcmread(io.BytesIO(_written(ds)))
    assert back.SOPClassUID == ENCAPSULATED_PDF_STORAGE and back.Modality == "DOC"
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "StudyDate"):
        assert back[keyword].value == header[keyword].value
    assert back.SeriesInstanceUID != header.SeriesInstanceUID
    assert pdf_of(back) == PDF and len(back.EncapsulatedDocument) % 2 == 0
    assert back.MIMETypeOfEncapsulatedDocument == "application/pdf"
    (source,) = back.SourceInstanceSequence
    assert (source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID) == (
        "1.2.840.10008.5.1.4.1.1.88.34",
        "2.25.1234",
    )


def test_the_same_report_gives_the_same_instance_and_another_version_another():
    identity = own_study_identity(
        Patient("MRN-1", "Donor", "Dana", date(1990, 5, 6), "F"),
        study_uid="2.25.99",
        when=ISSUED,
        description="Suitability report",
    )
    first = encapsulated_pdf(PDF, identity=identity, title="v1", issued_at=ISSUED, instance_key="v1")
    again = encapsulated_pdf(PDF, identity=identity, title="v1", issued_at=ISSUED, instance_key="v1")
    second = encapsulated_pdf(
        PDF, identity=identity, title="v2", issued_at=ISSUED, instance_key="v2", instance_number=2
    )
    assert first.SOPInstanceUID == again.SOPInstanceUID != second.SOPInstanceUID
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert (first.InstanceNumber, second.InstanceNumber) == (1, 2)
    assert first.PatientBirthDate == "19900506" and first.PatientName == "Donor^Dana"
    assert "SourceInstanceSequence" not in first


def test_bytes_that_are_no_pdf_or_an_identity_without_a_patient_are_refused():
    identity = own_study_identity(
        Patient("MRN-1", "Donor", "Dana", None, "F"), study_uid="2.25.99", when=ISSUED, description=""
    )
    with pytest.raises(ValueError, match="not a PDF"):
        encapsulated_pdf(b"<html>", identity=identity, title="x", issued_at=ISSUED, instance_key="k")
    with pytest.raises(ValueError, match="PatientID"):
        encapsulated_pdf(PDF, identity=Dataset(), title="x", issued_at=ISSUED, instance_key="k")


@pytest.mark.skipif(
    not shutil.which("dciodvfy") and os.environ.get("CI") != "true", reason="dicom3tools (dciodvfy) is not installed"
)
def test_dciodvfy_finds_no_error(tmp_path):
    ds = encapsulated_pdf(
        PDF,
        identity=identity_of(_image_header(tmp_path)),
        title="Suitability report v1",
        issued_at=ISSUED,
        instance_key="k",
        institution="Liver Centre",
        source_sr=_sr(),
    )
    path = tmp_path / "report.dcm"
    path.write_bytes(_written(ds))
    checked = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    output = checked.stdout + checked.stderr
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert "EncapsulatedPDF" in output or "Encapsulated PDF" in output, output
    assert errors == [], output
