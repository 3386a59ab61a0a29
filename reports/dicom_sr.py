"""The biliary anatomy as a DICOM Comprehensive 3D SR (TID 1500 Measurement Report), and back.

`anatomy_sr_dataset` writes a final anatomy revision with highdicom; `document_from_sr` reads
the `biliary-anatomy/1` document back out of such an SR, exactly as it was written. Both are
pure: plain data and pydicom datasets in, a dataset or a dict out. The content tree, and every
code of the private scheme `99LDLT`, are described in docs/dicom-sr.md.

The tree under "Imaging Measurements":

- one measurement group (TID 1501) for the anatomy as a whole: finding "Biliary tract", the
  graft, the document format, the notes, each system's type, the predicted number of
  anastomoses and the suitability;
- one measurement group per duct, in the document's order: the tracking identifier is the
  duct's id; finding "Bile duct"; its length in mm (with, when the length came from a viewer
  measurement, the two points as an SCOORD3D POLYLINE in patient coordinates); the junction
  distance in mm; the duct it drains into (TEXT); the Couinaud segments it drains directly
  (SNOMED CT codes) and the course of the RPHD.

So that reading gives back exactly the document: an integer is written as a NUM with only its
Numeric Value, a float with its Floating Point Value as well (DS holds 16 characters; FD holds
the double exactly); a key the document lacks has no content item; an empty `segments` list
is one "segment drained directly" item with the value "none"; notes that DICOM text would not
keep (empty, or ending in spaces) are also written as a JSON string.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import highdicom as hd
import highdicom.coding_schemes
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.valuerep import DS

from classification.anatomy import FORMAT

PRIVATE_SCHEME = "99LDLT"
PRIVATE_SCHEME_NAME = "Living donor liver transplant biliary anatomy"
PRIVATE_SCHEME_VERSION = "1"
MANUFACTURER = "Living donor liver workup"
SR_SERIES_NUMBER = 900  # a number of its own, apart from the scanner's series
SR_SERIES_DESCRIPTION = "Biliary anatomy (structured report)"

# DICOM UIDs derived from UUIDs (PS3.5 B.2): 2.25. followed by the UUID as one integer.
UID_NAMESPACE = uuid.UUID("6f0f3e64-5b1c-4a63-9a52-2c4d7cc0b7a1")


def derived_uid(*parts: str) -> str:
    """A UID that is always the same for the same parts: exporting an unchanged revision again
    gives the same SR instance, so a PACS that already has it keeps one copy."""
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, '/'.join(parts)).int}"


def private(value: str, meaning: str) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(value=value, scheme_designator=PRIVATE_SCHEME, meaning=meaning)


# ---------------------------------------------------------------- codes

ANATOMY_FINDING = hd.sr.CodedConcept.from_code(codes.SCT.BiliaryTract)
DUCT_FINDING = hd.sr.CodedConcept.from_code(codes.SCT.BileDuct)
LENGTH = hd.sr.CodedConcept.from_code(codes.SCT.Length)
MILLIMETRE = hd.sr.CodedConcept.from_code(codes.UCUM.Millimeter)
NO_UNITS = hd.sr.CodedConcept.from_code(codes.UCUM.NoUnits)
COMMENT = hd.sr.CodedConcept.from_code(codes.DCM.Comment)
UNKNOWN = hd.sr.CodedConcept.from_code(codes.SCT.Unknown)
PROCEDURE = hd.sr.CodedConcept.from_code(codes.SCT.ImagingProcedure)

DOCUMENT_FORMAT = private("FORMAT", "Anatomy document format")
GRAFT = private("GRAFT", "Graft")
JUNCTION = private("JUNCTION", "Junction distance from the upper end of the receiving duct")
DRAINS_INTO = private("DRAINS-INTO", "Drains into")
EXACT_NOTES = private("NOTES-EXACT", "Notes as recorded (JSON string)")
SEGMENT_DRAINED = private("SEGMENT", "Segment drained directly")
NO_SEGMENT = private("SEG-NONE", "No segment drained directly")
COURSE = private("COURSE", "Course relative to the right portal vein")
ANASTOMOSES = private("ANASTOMOSES", "Predicted number of biliary anastomoses")
SUITABILITY = private("SUITABILITY", "Donor suitability by the biliary anatomy")

GRAFTS = {
    "right_lobe": private("GRAFT-RL", "Right lobe graft (segments 5-8)"),
    "left_lateral_segment": private("GRAFT-LLS", "Left lateral segment graft (segments 2-3)"),
    "left_lobe": private("GRAFT-LL", "Left lobe graft (segments 2-4)"),
}
COURSES = {
    "supraportal": private("SUPRAPORTAL", "Supraportal"),
    "infraportal": private("INFRAPORTAL", "Infraportal"),
    "unknown": UNKNOWN,
}
SEGMENTS = {
    1: codes.SCT.CouinaudHepaticSegmentI,
    2: codes.SCT.CouinaudHepaticSegmentII,
    3: codes.SCT.CouinaudHepaticSegmentIII,
    4: codes.SCT.CouinaudHepaticSegmentIV,
    5: codes.SCT.CouinaudHepaticSegmentV,
    6: codes.SCT.CouinaudHepaticSegmentVI,
    7: codes.SCT.CouinaudHepaticSegmentVII,
    8: codes.SCT.CouinaudHepaticSegmentVIII,
}
SUITABILITIES = {
    "suitable": private("SUITABLE", "Suitable"),
    "suitable_may_need_additional_anastomosis": private("SUITABLE-ADD", "Suitable, may need an additional anastomosis"),
    "not_suitable": private("NOT-SUITABLE", "Not suitable"),
}


@dataclass(frozen=True)
class System:
    key: str  # as the result document names it
    code: str  # code value prefix of its types
    name: str


SYSTEMS = (
    System("proposed", "PROPOSED", "Durur Karakaya"),
    System("couinaud", "COUINAUD", "Couinaud"),
    System("huang", "HUANG", "Huang"),
    System("choi", "CHOI", "Choi"),
    System("karakas", "KARAKAS", "Karakas"),
    System("ohkubo", "OHKUBO", "Ohkubo"),
)


def system_concept(system: System) -> hd.sr.CodedConcept:
    return private(f"TYPE-{system.code}", f"Biliary type ({system.name})")


def type_code(system: System, value: str | None) -> hd.sr.CodedConcept:
    """The coded type: `<SYSTEM>-<type>`, or -UNCL when no rule matched, -NA when a length
    the system needs is missing."""
    if value is None:
        return private(f"{system.code}-NA", f"{system.name}: not classifiable (a needed length is missing)")
    if value == "unclassified":
        return private(f"{system.code}-UNCL", f"{system.name}: unclassified")
    return private(f"{system.code}-{value}", f"{system.name} type {value}")


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class Observer:
    """The radiologist who made the anatomy final."""

    name: str  # DICOM person name, Family^Given
    login: str
    organisation: str


@dataclass(frozen=True)
class MeasuredLength:
    """A duct length taken from a viewer measurement: its two points in patient coordinates (mm)."""

    points: tuple[tuple[float, float, float], tuple[float, float, float]]
    frame_of_reference_uid: str


class NotWritable(ValueError):
    """The document has a value the SR cannot carry exactly (only invalid documents do)."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_writable(document: Mapping[str, Any]) -> None:
    """Refuse, naming the field, what the SR could not give back exactly."""
    for key in document:
        if key not in ("format", "graft", "ducts", "notes"):
            raise NotWritable(f"document.{key}: not a field of {FORMAT}")
    if not isinstance(document.get("format"), str) or not document["format"]:
        raise NotWritable("document.format: must be text")
    if document.get("graft") not in GRAFTS:
        raise NotWritable(f"document.graft: must be one of {', '.join(GRAFTS)}")
    if "notes" in document and not isinstance(document["notes"], str):
        raise NotWritable("document.notes: must be text")
    ducts = document.get("ducts")
    if not isinstance(ducts, list) or not ducts:
        raise NotWritable("document.ducts: must be a list of ducts")
    for index, duct in enumerate(ducts):
        _check_duct(index, duct)


def _check_duct(index: int, duct: object) -> None:
    where = f"ducts[{index}]"
    if not isinstance(duct, dict):
        raise NotWritable(f"{where}: must be an object")
    if not isinstance(duct.get("id"), str) or not duct["id"] or len(duct["id"]) > 64:
        raise NotWritable(f"{where}.id: must be text of 1 to 64 characters")
    for key, value in duct.items():
        if key in ("id", "drains_into") and isinstance(value, str) and value and value == value.rstrip():
            continue
        if key in ("length_mm", "junction_mm") and _is_number(value):
            continue
        if key == "course" and value in COURSES:
            continue
        if key == "segments" and isinstance(value, list) and all(v in SEGMENTS and type(v) is int for v in value):
            continue
        raise NotWritable(f"{duct['id']}.{key}: {value!r} cannot be written to the structured report")


# ---------------------------------------------------------------- writing


def _num(name: hd.sr.CodedConcept, value: int | float, unit: hd.sr.CodedConcept, **kwargs: Any) -> hd.sr.Measurement:
    # highdicom keeps a float's exact value in Floating Point Value; an int stays an int.
    measurement = hd.sr.Measurement(name=name, value=value, unit=unit, **kwargs)
    if isinstance(value, int):  # written "12", not "12.0": the reader tells an int from a float by it
        measurement[0].MeasuredValueSequence[0].NumericValue = DS(str(value))
    return measurement


def _text(name: hd.sr.CodedConcept, value: str) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name=name, value=value, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)


def _tracking(label: str, uid: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(identifier=label, uid=uid)


def _duct_group(
    duct: Mapping[str, Any], measured: MeasuredLength | None, tracking_uid: str
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    measurements = []
    if "length_mm" in duct:
        coordinates = None
        if measured is not None:
            coordinates = [
                hd.sr.CoordinatesForMeasurement3D(
                    graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
                    graphic_data=np.array(measured.points, dtype=float),
                    frame_of_reference_uid=measured.frame_of_reference_uid,
                )
            ]
        measurements.append(_num(LENGTH, duct["length_mm"], MILLIMETRE, referenced_coordinates=coordinates))
    if "junction_mm" in duct:
        measurements.append(_num(JUNCTION, duct["junction_mm"], MILLIMETRE))
    evaluations = []
    if "segments" in duct:
        if not duct["segments"]:
            evaluations.append(hd.sr.QualitativeEvaluation(SEGMENT_DRAINED, NO_SEGMENT))
        for segment in duct["segments"]:
            evaluations.append(hd.sr.QualitativeEvaluation(SEGMENT_DRAINED, SEGMENTS[segment]))
    if "course" in duct:
        evaluations.append(hd.sr.QualitativeEvaluation(COURSE, COURSES[duct["course"]]))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(duct["id"], tracking_uid),
        finding_type=DUCT_FINDING,
        measurements=measurements or None,
        qualitative_evaluations=evaluations or None,
    )
    if "drains_into" in duct:
        group[0].ContentSequence.append(_text(DRAINS_INTO, duct["drains_into"]))
    return group


def _anatomy_group(
    document: Mapping[str, Any], result: Mapping[str, Any], tracking_uid: str
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    evaluations = [hd.sr.QualitativeEvaluation(GRAFT, GRAFTS[document["graft"]])]
    measurements = []
    if result.get("valid"):
        systems = result.get("results") or {}
        for system in SYSTEMS:
            if system.key in systems:
                evaluations.append(
                    hd.sr.QualitativeEvaluation(system_concept(system), type_code(system, systems[system.key]["type"]))
                )
        prediction = result.get("prediction") or {}
        if isinstance(prediction.get("anastomoses"), int):
            measurements.append(_num(ANASTOMOSES, prediction["anastomoses"], NO_UNITS))
        if prediction.get("suitability") in SUITABILITIES:
            evaluations.append(hd.sr.QualitativeEvaluation(SUITABILITY, SUITABILITIES[prediction["suitability"]]))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking("Biliary anatomy", tracking_uid),
        finding_type=ANATOMY_FINDING,
        measurements=measurements or None,
        qualitative_evaluations=evaluations,
    )
    group[0].ContentSequence.append(_text(DOCUMENT_FORMAT, document["format"]))
    notes = document.get("notes")
    if isinstance(notes, str):
        if notes.strip():
            group[0].ContentSequence.append(_text(COMMENT, notes))
        if not notes or notes != notes.rstrip():
            # DICOM text loses trailing spaces and cannot be empty: the exact notes as a JSON string.
            group[0].ContentSequence.append(_text(EXACT_NOTES, json.dumps(notes, ensure_ascii=False)))
    return group


def _image_library(images: Sequence[Dataset]) -> hd.sr.ContainerContentItem:
    """TID 1600: the images in groups that share their descriptors (modality, frame of reference,
    matrix, pixel spacing, orientation, thickness: TID 1602 and 1604 at the group level, as the
    template allows). A 3D series is hundreds of slices: descriptors on every entry (their own
    positions too) would make most of the report and triple the time highdicom takes to write it;
    a slice's position is in the slice, and the measured points are in patient coordinates."""
    groups: dict[tuple[str, ...], tuple[list[hd.sr.ContentItem], list[hd.sr.ImageContentItem]]] = {}
    for image in images:
        item = hd.sr.ImageContentItem(
            name=SOURCE,
            referenced_sop_class_uid=image.SOPClassUID,
            referenced_sop_instance_uid=image.SOPInstanceUID,
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
        )
        shared = _shared_descriptors(image)
        key = tuple(repr(_item_value(d)) for d in shared)
        groups.setdefault(key, (shared, []))[1].append(item)
    library = hd.sr.ContainerContentItem(
        name=codes.DCM.ImageLibrary, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    library.ContentSequence = hd.sr.ContentSequence()
    for shared, items in groups.values():
        group = hd.sr.ContainerContentItem(
            name=codes.DCM.ImageLibraryGroup, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
        )
        group.ContentSequence = hd.sr.ContentSequence([*shared, *items])
        library.ContentSequence.append(group)
    return library


def _item_value(item: hd.sr.ContentItem) -> tuple[str, str]:
    name = item.ConceptNameCodeSequence[0].CodeValue
    if "MeasuredValueSequence" in item:
        return name, str(item.MeasuredValueSequence[0].NumericValue)
    if "ConceptCodeSequence" in item:
        return name, str(item.ConceptCodeSequence[0].CodeValue)
    return name, str(item.get("UID", ""))


SOURCE = hd.sr.CodedConcept(value="260753009", meaning="Source", scheme_designator="SCT")
PIXELS = hd.sr.CodedConcept(value="{pixels}", meaning="Pixels", scheme_designator="UCUM")
DIRECTION = hd.sr.CodedConcept(value="{-1:1}", meaning="{-1:1}", scheme_designator="UCUM")
MODALITIES = {"MR": codes.cid29.MagneticResonance, "CT": codes.cid29.ComputedTomography}


def _values(image: Dataset, keyword: str, count: int) -> list[float] | None:
    value = image.get(keyword)
    if value is None or value == "":
        return None
    values = list(value) if count > 1 else [value]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(math.isfinite(n) for n in numbers) else None


CONTEXT = hd.sr.RelationshipTypeValues.HAS_ACQ_CONTEXT


def _shared_descriptors(image: Dataset) -> list[hd.sr.ContentItem]:
    modality = str(image.get("Modality", "") or "OT")
    coded = MODALITIES.get(modality) or hd.sr.CodedConcept(value=modality, scheme_designator="DCM", meaning=modality)
    items: list[hd.sr.ContentItem] = [hd.sr.CodeContentItem(codes.DCM.Modality, coded, relationship_type=CONTEXT)]
    if image.get("FrameOfReferenceUID"):
        items.append(
            hd.sr.UIDRefContentItem(codes.DCM.FrameOfReferenceUID, image.FrameOfReferenceUID, relationship_type=CONTEXT)
        )
    for name, keyword in ((codes.DCM.PixelDataRows, "Rows"), (codes.DCM.PixelDataColumns, "Columns")):
        found = _values(image, keyword, 1)
        if found is not None:
            items.append(hd.sr.NumContentItem(name, int(found[0]), PIXELS, relationship_type=CONTEXT))
    wanted = []
    spacing = _values(image, "PixelSpacing", 2)
    if spacing is not None:
        wanted += [(codes.DCM.HorizontalPixelSpacing, spacing[1]), (codes.DCM.VerticalPixelSpacing, spacing[0])]
    for name, keyword in (
        (codes.DCM.SliceThickness, "SliceThickness"),
        (codes.DCM.SpacingBetweenSlices, "SpacingBetweenSlices"),
    ):
        found = _values(image, keyword, 1)
        if found is not None:
            wanted.append((name, found[0]))
    items += [hd.sr.NumContentItem(name, value, MILLIMETRE, relationship_type=CONTEXT) for name, value in wanted]
    orientation = _values(image, "ImageOrientationPatient", 6)
    if orientation is not None:
        directions = (
            codes.DCM.ImageOrientationPatientRowX,
            codes.DCM.ImageOrientationPatientRowY,
            codes.DCM.ImageOrientationPatientRowZ,
            codes.DCM.ImageOrientationPatientColumnX,
            codes.DCM.ImageOrientationPatientColumnY,
            codes.DCM.ImageOrientationPatientColumnZ,
        )
        items += [
            hd.sr.NumContentItem(name, value, DIRECTION, relationship_type=CONTEXT)
            for name, value in zip(directions, orientation, strict=True)
        ]
    return items


PATIENT_AND_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)


def _evidence(images: Sequence[Dataset]) -> list[Dataset]:
    """What the SR cites of the images: their UIDs, and the first one's patient and study (the
    files' identity; a type 2 attribute missing from the file is written empty)."""
    evidence = []
    for index, image in enumerate(images):
        item = Dataset()
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID"):
            setattr(item, keyword, image[keyword].value)
        if index == 0:
            for keyword in PATIENT_AND_STUDY:
                setattr(item, keyword, image.get(keyword, "") or "")
            if "SpecificCharacterSet" in image:
                item.SpecificCharacterSet = image.SpecificCharacterSet
        evidence.append(item)
    return evidence


def anatomy_sr_dataset(
    *,
    document: Mapping[str, Any],
    result: Mapping[str, Any],
    images: Sequence[Dataset],
    observer: Observer,
    measured_lengths: Mapping[str, MeasuredLength],
    sop_instance_uid: str,
    series_instance_uid: str,
    finalised_at: datetime.datetime,
    instance_number: int = 1,
) -> Dataset:
    """The SR of one final anatomy revision.

    `document` is the anatomy, `result` what `classification.document.classify_document` made
    of it; `images` the headers (no pixels) of the MRCP series it was read on, whose first file
    gives the patient and study; `measured_lengths` the viewer measurements lengths came from,
    by duct id. Raises NotWritable for a document the SR could not give back exactly."""
    check_writable(document)
    if not images:
        raise ValueError("images: the SR cites the MRCP series it was read on; none given")
    groups = [_anatomy_group(document, result, derived_uid(sop_instance_uid, "anatomy"))]
    for index, duct in enumerate(document["ducts"]):
        measured = measured_lengths.get(duct["id"]) if "length_mm" in duct else None
        tracking_uid = derived_uid(sop_instance_uid, "duct", str(index), duct["id"])
        groups.append(_duct_group(duct, measured, tracking_uid))
    person = hd.sr.PersonObserverIdentifyingAttributes(
        name=observer.name, login_name=observer.login or None, organization_name=observer.organisation
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=hd.sr.ObserverContext(
                observer_type=hd.sr.CodedConcept.from_code(codes.cid270.Person),
                observer_identifying_attributes=person,
            )
        ),
        procedure_reported=PROCEDURE,
        imaging_measurements=groups,
    )
    # The image library goes before "Imaging Measurements", as TID 1500 orders its rows.
    content = report[0].ContentSequence
    content.insert(len(content) - 1, _image_library(images))
    sr = hd.sr.Comprehensive3DSR(
        evidence=_evidence(images),
        content=report[0],
        series_instance_uid=series_instance_uid,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=sop_instance_uid,
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        institution_name=observer.organisation or None,
        is_complete=True,
        is_final=True,
        is_verified=True,
        verifying_observer_name=observer.name,
        verifying_organization=observer.organisation or "unknown",
        series_description=SR_SERIES_DESCRIPTION,
        content_date=finalised_at.date(),
        content_time=finalised_at.time().replace(microsecond=0),
        specific_character_set="ISO_IR 192",  # UTF-8: names and notes may be in any script
        coding_schemes=[
            hd.coding_schemes.CodingSchemeIdentificationItem(
                designator=PRIVATE_SCHEME,
                name=PRIVATE_SCHEME_NAME,
                version=PRIVATE_SCHEME_VERSION,
                responsible_organization=MANUFACTURER,
            )
        ],
    )
    sr.VerifyingObserverSequence[0].VerificationDateTime = finalised_at.strftime("%Y%m%d%H%M%S")
    if finalised_at.utcoffset() is not None:
        sr.TimezoneOffsetFromUTC = finalised_at.strftime("%z")
    return sr


# ---------------------------------------------------------------- reading


class NotAnAnatomySR(ValueError):
    """The dataset is not an anatomy SR this module wrote."""


def _concept(item: Dataset, attribute: str = "ConceptNameCodeSequence") -> tuple[str, str]:
    code = item[attribute][0]
    return str(code.CodingSchemeDesignator), str(code.CodeValue)


def _key(concept: hd.sr.CodedConcept | Any) -> tuple[str, str]:
    return str(concept.scheme_designator), str(concept.value)


def _number(item: Dataset) -> int | float:
    measured = item.MeasuredValueSequence[0]
    if "FloatingPointValue" in measured:
        return float(measured.FloatingPointValue)
    text = str(measured["NumericValue"].value).strip()
    return float(text) if any(c in text for c in ".eE") else int(text)


def _groups(dataset: Dataset) -> list[Dataset]:
    if "ContentSequence" not in dataset:
        raise NotAnAnatomySR("not a structured report: no content")
    containers = [
        item
        for item in dataset.ContentSequence
        if item.ValueType == "CONTAINER" and _concept(item) == _key(codes.DCM.ImagingMeasurements)
    ]
    if not containers:
        raise NotAnAnatomySR("no Imaging Measurements in the report")
    return [
        item
        for item in containers[0].get("ContentSequence", [])
        if item.ValueType == "CONTAINER" and _concept(item) == _key(codes.DCM.MeasurementGroup)
    ]


def _finding(group: Dataset) -> tuple[str, str] | None:
    for item in group.get("ContentSequence", []):
        if item.ValueType == "CODE" and _concept(item) == _key(codes.DCM.Finding):
            return _concept(item, "ConceptCodeSequence")
    return None


def _tracking_label(group: Dataset) -> str:
    for item in group.get("ContentSequence", []):
        if item.ValueType == "TEXT" and _concept(item) == _key(codes.DCM.TrackingIdentifier):
            return str(item.TextValue)
    raise NotAnAnatomySR("a duct's measurement group has no tracking identifier")


SEGMENT_OF = {_key(code): number for number, code in SEGMENTS.items()}
COURSE_OF = {_key(code): name for name, code in COURSES.items()}
GRAFT_OF = {_key(code): name for name, code in GRAFTS.items()}


def _read_duct(group: Dataset) -> dict[str, Any]:
    duct: dict[str, Any] = {"id": _tracking_label(group)}
    for item in group.get("ContentSequence", []):
        concept = _concept(item)
        if item.ValueType == "TEXT" and concept == _key(DRAINS_INTO):
            duct["drains_into"] = str(item.TextValue)
        elif item.ValueType == "CODE" and concept == _key(SEGMENT_DRAINED):
            segments = duct.setdefault("segments", [])
            value = _concept(item, "ConceptCodeSequence")
            if value != _key(NO_SEGMENT):
                segments.append(SEGMENT_OF[value])
        elif item.ValueType == "NUM" and concept == _key(LENGTH):
            duct["length_mm"] = _number(item)
        elif item.ValueType == "NUM" and concept == _key(JUNCTION):
            duct["junction_mm"] = _number(item)
        elif item.ValueType == "CODE" and concept == _key(COURSE):
            duct["course"] = COURSE_OF[_concept(item, "ConceptCodeSequence")]
    return duct


def document_from_sr(dataset: Dataset) -> dict[str, Any]:
    """The `biliary-anatomy/1` document an anatomy SR holds, exactly as it was written."""
    try:
        return _document_from_sr(dataset)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as error:
        if isinstance(error, NotAnAnatomySR):
            raise
        raise NotAnAnatomySR(f"not an anatomy SR this app wrote: {error!r}") from error


def _document_from_sr(dataset: Dataset) -> dict[str, Any]:
    document: dict[str, Any] = {}
    ducts: list[dict[str, Any]] = []
    anatomy_seen = False
    for group in _groups(dataset):
        finding = _finding(group)
        if finding == _key(ANATOMY_FINDING):
            anatomy_seen = True
            for item in group.get("ContentSequence", []):
                concept = _concept(item)
                if item.ValueType == "TEXT" and concept == _key(DOCUMENT_FORMAT):
                    document["format"] = str(item.TextValue)
                elif item.ValueType == "CODE" and concept == _key(GRAFT):
                    document["graft"] = GRAFT_OF[_concept(item, "ConceptCodeSequence")]
                elif item.ValueType == "TEXT" and concept == _key(COMMENT):
                    document.setdefault("notes", str(item.TextValue))
                elif item.ValueType == "TEXT" and concept == _key(EXACT_NOTES):
                    document["notes"] = json.loads(str(item.TextValue))
        elif finding == _key(DUCT_FINDING):
            ducts.append(_read_duct(group))
    if not anatomy_seen or "format" not in document or "graft" not in document:
        raise NotAnAnatomySR("no biliary anatomy group (format and graft) in the report")
    return {"format": document["format"], "graft": document["graft"], "ducts": ducts} | (
        {"notes": document["notes"]} if "notes" in document else {}
    )


def measured_points_from_sr(dataset: Dataset) -> dict[str, list[list[float]]]:
    """The two patient points of each duct length that came from a viewer measurement, by duct id."""
    points: dict[str, list[list[float]]] = {}
    for group in _groups(dataset):
        if _finding(group) != _key(DUCT_FINDING):
            continue
        for item in group.get("ContentSequence", []):
            if item.ValueType != "NUM" or _concept(item) != _key(LENGTH):
                continue
            for child in item.get("ContentSequence", []):
                if child.ValueType == "SCOORD3D":
                    data = [float(v) for v in child.GraphicData]
                    points[_tracking_label(group)] = [data[i : i + 3] for i in range(0, len(data), 3)]
    return points


# ---------------------------------------------------------------- lengths measured in the viewer


@dataclass(frozen=True)
class ViewerMeasurement:
    """A distance saved in the viewer on the series the anatomy was read on."""

    label: str
    length_mm: float
    patient_points: Sequence[Sequence[float]]


def _names_duct(label: str, duct_id: str) -> bool:
    """The editor's rule for the duct a measurement is offered to: its label is the duct's id, or
    begins with it (`RHD`, `rhd: origin to confluence`)."""
    text = label.strip().upper()
    return text == duct_id.upper() or re.split(r"[\s:,;]+", text)[0] == duct_id.upper()


def lengths_from_measurements(
    document: Mapping[str, Any], measurements: Sequence[ViewerMeasurement], frame_of_reference_uid: str
) -> dict[str, MeasuredLength]:
    """The ducts whose length came from a viewer measurement, with its two points.

    The editor copies a measurement's length, to 0.1 mm, into the duct its label names; the
    document keeps the number only. A length is taken to come from a measurement when one names
    the duct and has that length to 0.1 mm (the newest first: `measurements` newest first)."""
    found: dict[str, MeasuredLength] = {}
    if not frame_of_reference_uid:
        return found
    for duct in document.get("ducts", []):
        length = duct.get("length_mm") if isinstance(duct, dict) else None
        if not isinstance(length, (int, float)) or not _is_number(length) or not isinstance(duct.get("id"), str):
            continue
        for measurement in measurements:
            points = [tuple(float(v) for v in point) for point in measurement.patient_points]
            if (
                _names_duct(measurement.label, duct["id"])
                and abs(measurement.length_mm - float(length)) <= 0.05 + 1e-9
                and len(points) == 2
                and all(len(p) == 3 for p in points)
            ):
                first, second = points
                found[duct["id"]] = MeasuredLength(
                    points=((first[0], first[1], first[2]), (second[0], second[1], second[2])),
                    frame_of_reference_uid=frame_of_reference_uid,
                )
                break
    return found
