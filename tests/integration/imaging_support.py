"""Helpers shared by the imaging tests: phantom series, uploads through the API, pydicom's files."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pydicom.data
from django.core.files.uploadedfile import SimpleUploadedFile

from classification.presets import preset_document
from imaging.dicom import generate_series

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
MR_VARIANTS = [
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_implicit.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_padded.dcm",
]


def shipped(name: str) -> Path:
    path = TEST_FILES / name
    assert path.exists(), f"pydicom test file {name} is missing"
    return path


def phantom(
    folder: Path, *, donor=None, preset: str = "typical_right_lobe", slices: int = 24, size: int = 96, **kwargs
):
    """A small phantom series whose patient matches the donor (unless told otherwise)."""
    if donor is not None:
        kwargs.setdefault("patient_id", donor.mrn)
        kwargs.setdefault("patient_name", f"{donor.family_name}^{donor.given_name}")
    return generate_series(preset_document(preset), folder, slices=slices, rows=size, columns=size, **kwargs)


def as_uploads(paths) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(Path(p).name, Path(p).read_bytes(), content_type="application/dicom") for p in paths]


def named(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def rewritten(name: str, change) -> bytes:
    dataset = pydicom.dcmread(shipped(name))
    change(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def upload(client, donor, files, capture):
    """POST files through the API (tasks run on commit, in-process); returns the 202 body."""
    with capture(execute=True):
        response = client.post("/api/v1/uploads/", {"donor": donor.pk, "files": files}, format="multipart")
    assert response.status_code == 202, response.content
    return response.json()


def report(client, upload_id) -> dict:
    response = client.get(f"/api/v1/uploads/{upload_id}/")
    assert response.status_code == 200, response.content
    return response.json()


def lines(body) -> dict[str, dict]:
    return {line["name"]: line for line in body["files"]}
