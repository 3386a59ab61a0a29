"""An issued report's PDF as a DICOM Encapsulated PDF instance (PS3.3 A.45.1), for PACS.

The instance joins the donor's MRCP study: its Patient and General Study attributes are copied from a
header of that study's files, so PACS files it beside the images. A donor without a study gets a study
of its own. When the anatomy's structured report goes with it, the PDF names the SR in its Source
Instance Sequence.

Pure: pydicom only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from .dicom_sr import MANUFACTURER, derived_uid

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
PDF_SERIES_NUMBER = 901  # beside the SR's series (900), apart from the scanner's
PDF_SERIES_DESCRIPTION = "Suitability report (PDF)"

# The Patient and General Study modules: what PACS matches a study by, copied as the files have them.
IDENTITY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "StudyDescription",
)
# Type 2: present, empty when unknown.
_TYPE_2: tuple[str, ...] = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate")
_TYPE_2 += ("StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName")


def identity_of(header: Dataset) -> Dataset:
    """The patient and study identity of an image header, attribute for attribute."""
    found = Dataset()
    for keyword in IDENTITY_KEYWORDS:
        if keyword in header:
            found[keyword] = header[keyword]
    return found


@dataclass(frozen=True)
class Patient:
    """The donor as the app knows it, for a report whose donor has no study in the app."""

    patient_id: str
    family_name: str
    given_name: str
    birth_date: date | None
    sex: str  # "M", "F" or "O"


def own_study_identity(patient: Patient, *, study_uid: str, when: datetime, description: str) -> Dataset:
    found = Dataset()
    found.PatientName = f"{patient.family_name}^{patient.given_name}"
    found.PatientID = patient.patient_id
    found.PatientBirthDate = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    found.PatientSex = patient.sex
    found.StudyInstanceUID = study_uid
    found.StudyDate = when.strftime("%Y%m%d")
    found.StudyTime = when.strftime("%H%M%S")
    found.StudyDescription = description
    return found


def encapsulated_pdf(
    pdf: bytes,
    *,
    identity: Dataset,
    title: str,
    issued_at: datetime,
    instance_key: str,
    instance_number: int = 1,
    institution: str = "",
    source_sr: Dataset | None = None,
) -> Dataset:
    """The Encapsulated PDF instance of `pdf` in the study `identity` names (see `identity_of`).

    `instance_key` fixes its UIDs (the same report gives the same instance, so a second send replaces
    nothing in PACS); `instance_number` orders the versions in their series; `source_sr` is the structured
    report it goes with, if any."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("not a PDF: the bytes do not start with %PDF-")
    missing = [k for k in ("PatientID", "StudyInstanceUID") if not str(identity.get(k, "") or "")]
    if missing:
        raise ValueError(f"the study identity lacks {', '.join(missing)}")
    study_uid = str(identity.StudyInstanceUID)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = derived_uid("report-pdf", study_uid, instance_key)
    for keyword in _TYPE_2:
        setattr(ds, keyword, "")
    for element in identity:
        ds[element.tag] = element
    # Encapsulated Document Series
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = derived_uid("report-pdf-series", study_uid)
    ds.SeriesNumber = PDF_SERIES_NUMBER
    ds.SeriesDescription = PDF_SERIES_DESCRIPTION
    # General Equipment and SC Equipment: a document written by a workstation
    ds.Manufacturer = MANUFACTURER
    if institution:
        ds.InstitutionName = institution
    ds.ConversionType = "WSD"
    # Encapsulated Document
    ds.InstanceNumber = instance_number
    ds.ContentDate = issued_at.strftime("%Y%m%d")
    ds.ContentTime = issued_at.strftime("%H%M%S")
    ds.AcquisitionDateTime = issued_at.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"  # the report names the patient
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = Sequence()
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")  # OB values have an even length
    ds.EncapsulatedDocumentLength = len(pdf)
    if source_sr is not None:
        source = Dataset()
        source.ReferencedSOPClassUID = source_sr.SOPClassUID
        source.ReferencedSOPInstanceUID = source_sr.SOPInstanceUID
        ds.SourceInstanceSequence = Sequence([source])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def pdf_of(instance: Dataset) -> bytes:
    """The PDF an Encapsulated PDF instance holds, without the padding byte."""
    data = bytes(instance.EncapsulatedDocument)
    length = instance.get("EncapsulatedDocumentLength")
    return data[: int(length)] if length is not None else data.rstrip(b"\0")
