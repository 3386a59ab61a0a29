"""The anatomy as a DICOM Comprehensive 3D SR: its content (concepts, units, codes, observer,
evidence), the round trip back to exactly the same document, and highdicom reading it."""

from __future__ import annotations

import copy
import datetime
import io
import json
import re
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom.sr.codedict import codes

from classification.document import classify_document
from classification.presets import PRESETS, preset_document
from reports.dicom_sr import (
    PRIVATE_SCHEME,
    MeasuredLength,
    NotAnAnatomySR,
    NotWritable,
    Observer,
    ViewerMeasurement,
    anatomy_sr_dataset,
    derived_uid,
    document_from_sr,
    lengths_from_measurements,
    measured_points_from_sr,
)

ROOT = Path(__file__).resolve().parents[3]
CASES = sorted((ROOT / "tests" / "data" / "cases").glob("*.json"))
FINALISED = datetime.datetime(2026, 11, 30, 14, 5, 9, tzinfo=datetime.UTC)
OBSERVER = Observer(name="Yilmaz^Ayse", login="radiologist", organisation="Demo Transplant Centre")


def build(document, images, measured=None, **kwargs):
    return anatomy_sr_dataset(
        document=document,
        result=classify_document(document),
        images=images,
        observer=OBSERVER,
        measured_lengths=measured or {},
        sop_instance_uid=derived_uid("test", json.dumps(document, sort_keys=True)),
        series_instance_uid=derived_uid("test-series"),
        finalised_at=FINALISED,
        **kwargs,
    )


def written_and_read(dataset) -> pydicom.Dataset:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def concept(item, attribute="ConceptNameCodeSequence"):
    code = item[attribute][0]
    return (code.CodingSchemeDesignator, code.CodeValue)


def children(item, name=None, value_type=None):
    return [
        child
        for child in item.get("ContentSequence", [])
        if (name is None or concept(child) == name) and (value_type is None or child.ValueType == value_type)
    ]


def only(items):
    assert len(items) == 1, items
    return items[0]


def groups_of(dataset):
    measurements = only(children(dataset, ("DCM", "126010"), "CONTAINER"))
    return children(measurements, ("DCM", "125007"), "CONTAINER")


def group_named(dataset, label):
    for group in groups_of(dataset):
        tracking = children(group, ("DCM", "112039"), "TEXT")
        if tracking and tracking[0].TextValue == label:
            return group
    raise AssertionError(f"no group {label}")


def walk(item):
    for child in item.get("ContentSequence", []):
        yield child
        yield from walk(child)


def all_codes(dataset):
    """Every coded concept in the content tree: names, values and units."""
    for item in walk(dataset):
        for attribute in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
            if attribute in item:
                yield item[attribute][0]
        for measured in item.get("MeasuredValueSequence", []):
            yield measured.MeasurementUnitsCodeSequence[0]


# ---------------------------------------------------------------- content


def test_the_report_is_a_comprehensive_3d_sr_measurement_report_in_the_mrcp_study(images):
    sr = written_and_read(build(preset_document("typical_right_lobe"), images))
    assert sr.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert sr.Modality == "SR"
    assert concept(sr) == ("DCM", "126000")  # Imaging Measurement Report
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert (sr.CompletionFlag, sr.VerificationFlag, sr.PreliminaryFlag) == ("COMPLETE", "VERIFIED", "FINAL")
    # The SR joins the MRCP study, with the patient as the files name them.
    assert sr.StudyInstanceUID == images[0].StudyInstanceUID
    assert sr.SeriesInstanceUID != images[0].SeriesInstanceUID
    assert (str(sr.PatientName), sr.PatientID) == ("Demir^Elif", "MRN100037")
    assert (sr.ContentDate, sr.ContentTime) == ("20261130", "140509")
    assert sr.VerifyingObserverSequence[0].VerifyingObserverName == "Yilmaz^Ayse"
    assert sr.VerifyingObserverSequence[0].VerifyingOrganization == "Demo Transplant Centre"
    procedure = only(children(sr, ("DCM", "121058"), "CODE"))
    assert concept(procedure, "ConceptCodeSequence") == ("SCT", "363679005")  # Imaging procedure


def test_the_radiologist_is_the_person_observer(images):
    sr = written_and_read(build(preset_document("typical_right_lobe"), images))
    observer_type = only(children(sr, ("DCM", "121005"), "CODE"))
    assert observer_type.RelationshipType == "HAS OBS CONTEXT"
    assert concept(observer_type, "ConceptCodeSequence") == ("DCM", "121006")  # Person
    assert str(only(children(sr, ("DCM", "121008"), "PNAME")).PersonName) == "Yilmaz^Ayse"
    assert only(children(sr, ("DCM", "128774"), "TEXT")).TextValue == "radiologist"  # login name
    assert only(children(sr, ("DCM", "121009"), "TEXT")).TextValue == "Demo Transplant Centre"


def test_the_mrcp_series_is_the_image_library_and_the_evidence(images):
    sr = written_and_read(build(preset_document("typical_right_lobe"), images))
    library = only(children(sr, ("DCM", "111028"), "CONTAINER"))
    listed = [
        image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for group in children(library, ("DCM", "126200"), "CONTAINER")
        for image in children(group, value_type="IMAGE")
    ]
    assert listed == [image.SOPInstanceUID for image in images]
    evidence = only(sr.CurrentRequestedProcedureEvidenceSequence)
    assert evidence.StudyInstanceUID == images[0].StudyInstanceUID
    series = only(evidence.ReferencedSeriesSequence)
    assert series.SeriesInstanceUID == images[0].SeriesInstanceUID
    assert [i.ReferencedSOPInstanceUID for i in series.ReferencedSOPSequence] == [i.SOPInstanceUID for i in images]
    assert {i.ReferencedSOPClassUID for i in series.ReferencedSOPSequence} == {pydicom.uid.MRImageStorage}
    assert "PertinentOtherEvidenceSequence" not in sr


def test_each_duct_is_a_measurement_group_with_its_length_in_mm(images):
    document = preset_document("typical_right_lobe")
    sr = written_and_read(build(document, images))
    assert len(groups_of(sr)) == len(document["ducts"]) + 1  # and the anatomy's own group
    rhd = group_named(sr, "RHD")
    assert rhd.ContentTemplateSequence[0].TemplateIdentifier == "1501"
    assert concept(only(children(rhd, ("DCM", "121071"))), "ConceptCodeSequence") == ("SCT", "28273000")  # Bile duct
    length = only(children(rhd, ("SCT", "410668003"), "NUM"))
    measured = only(length.MeasuredValueSequence)
    assert float(measured.NumericValue) == 7.0
    assert concept(measured, "MeasurementUnitsCodeSequence") == ("UCUM", "mm")
    assert only(children(rhd, ("99LDLT", "DRAINS-INTO"), "TEXT")).TextValue == "CHD"
    rahd = group_named(sr, "RAHD")
    segments = children(rahd, ("99LDLT", "SEGMENT"), "CODE")
    assert [concept(s, "ConceptCodeSequence") for s in segments] == [("SCT", "277959000"), ("SCT", "277962002")]
    rphd = group_named(sr, "RPHD")
    assert concept(only(children(rphd, ("99LDLT", "COURSE"))), "ConceptCodeSequence") == ("99LDLT", "SUPRAPORTAL")
    cystic = group_named(sr, "CYSTIC")
    junction = only(children(cystic, ("99LDLT", "JUNCTION"), "NUM"))
    assert float(junction.MeasuredValueSequence[0].NumericValue) == 25.0
    assert not children(cystic, ("SCT", "410668003"))  # the cystic duct has no length in the document


def test_a_length_from_the_viewer_carries_its_two_points_in_patient_space(images):
    frame = images[0].FrameOfReferenceUID
    points = ((-12.5, 30.25, 101.0), (-5.0, 33.5, 98.75))
    sr = written_and_read(build(preset_document("typical_right_lobe"), images, {"RHD": MeasuredLength(points, frame)}))
    length = only(children(group_named(sr, "RHD"), ("SCT", "410668003"), "NUM"))
    scoord = only(children(length, value_type="SCOORD3D"))
    assert scoord.RelationshipType == "INFERRED FROM"
    assert scoord.GraphicType == "POLYLINE"
    assert scoord.ReferencedFrameOfReferenceUID == frame
    assert [float(v) for v in scoord.GraphicData] == [v for point in points for v in point]
    assert measured_points_from_sr(sr) == {"RHD": [list(points[0]), list(points[1])]}
    lhd_length = only(children(group_named(sr, "LHD"), ("SCT", "410668003"), "NUM"))
    assert not children(lhd_length, value_type="SCOORD3D")  # typed in, not measured


def test_the_graft_types_and_prediction_are_qualitative_evaluations(images):
    document = copy.deepcopy(PRESETS["typical_right_lobe"]["document"])
    result = classify_document(document)
    sr = written_and_read(build(document, images))
    anatomy = group_named(sr, "Biliary anatomy")
    assert concept(only(children(anatomy, ("DCM", "121071"))), "ConceptCodeSequence") == ("SCT", "34707002")
    assert concept(only(children(anatomy, ("99LDLT", "GRAFT"))), "ConceptCodeSequence") == ("99LDLT", "GRAFT-RL")
    names = {"proposed": "PROPOSED", "couinaud": "COUINAUD", "huang": "HUANG", "choi": "CHOI"}
    names |= {"karakas": "KARAKAS", "ohkubo": "OHKUBO"}
    for system, code in names.items():
        evaluation = only(children(anatomy, ("99LDLT", f"TYPE-{code}"), "CODE"))
        value = evaluation.ConceptCodeSequence[0]
        assert value.CodeValue == f"{code}-{result['results'][system]['type']}"
    assert concept(only(children(anatomy, ("99LDLT", "TYPE-PROPOSED"))), "ConceptCodeSequence") == (
        "99LDLT",
        "PROPOSED-1",
    )
    anastomoses = only(children(anatomy, ("99LDLT", "ANASTOMOSES"), "NUM"))
    assert int(anastomoses.MeasuredValueSequence[0].NumericValue) == result["prediction"]["anastomoses"] == 1
    assert concept(anastomoses.MeasuredValueSequence[0], "MeasurementUnitsCodeSequence") == ("UCUM", "1")
    suitability = only(children(anatomy, ("99LDLT", "SUITABILITY"), "CODE"))
    assert suitability.ConceptCodeSequence[0].CodeValue == "SUITABLE"


def test_a_type_that_needs_a_missing_length_is_coded_not_classifiable(images):
    document = copy.deepcopy(PRESETS["trifurcation"]["document"])
    result = classify_document(document)
    missing = [name for name, entry in result["results"].items() if entry["type"] is None]
    sr = written_and_read(build(document, images))
    anatomy = group_named(sr, "Biliary anatomy")
    for name in missing:
        code = name.upper()
        value = only(children(anatomy, ("99LDLT", f"TYPE-{code}"))).ConceptCodeSequence[0].CodeValue
        assert value == f"{code}-NA"


def test_private_codes_are_declared_and_documented(images):
    sr = written_and_read(build(copy.deepcopy(PRESETS["typical_right_lobe"]["document"]), images))
    declared = only(sr.CodingSchemeIdentificationSequence)
    assert declared.CodingSchemeDesignator == PRIVATE_SCHEME == "99LDLT"
    assert declared.CodingSchemeName
    schemes = {code.CodingSchemeDesignator for code in all_codes(sr)}
    assert schemes <= {"DCM", "SCT", "UCUM", "RFC5646", "99LDLT"}, schemes
    documented = (ROOT / "docs" / "dicom-sr.md").read_text()
    listed = set(re.findall(r"^\| `([A-Z0-9a-z-]+)` \|", documented, flags=re.MULTILINE))
    documents = [json.loads(case.read_text())["anatomy"] for case in CASES] + [preset_document(n) for n in PRESETS]
    for document in documents:
        for code in all_codes(written_and_read(build(document, images))):
            if code.CodingSchemeDesignator == PRIVATE_SCHEME:
                assert code.CodeValue in listed, f"{code.CodeValue} ({code.CodeMeaning}) is not in docs/dicom-sr.md"


# ---------------------------------------------------------------- the round trip


def round_trip(document, images, measured=None):
    back = document_from_sr(written_and_read(build(document, images, measured)))
    assert back == document
    # Exactly: 12 stays an int, 12.0 a float, and the order of ducts and segments is kept.
    assert json.dumps(back, sort_keys=True) == json.dumps(document, sort_keys=True)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_comes_back_exactly(name, images):
    round_trip(preset_document(name), images)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_every_spec_case_comes_back_exactly(case, images):
    round_trip(json.loads(case.read_text())["anatomy"], images)


def test_numbers_notes_and_empty_lists_come_back_exactly(images):
    document = preset_document("typical_right_lobe")
    document["ducts"][0]["length_mm"] = 12  # an int
    document["ducts"][1]["length_mm"] = 12.345678901234567  # more digits than a DS holds
    document["ducts"][1]["junction_mm"] = 0.1 + 0.2  # 0.30000000000000004
    document["ducts"][2]["segments"] = []
    document["ducts"][2]["course"] = "unknown"
    document["notes"] = "Ductus: şüpheli aksesuar kanal?\nSecond line — 2 mm"
    frame = images[0].FrameOfReferenceUID
    round_trip(document, images, {"RAHD": MeasuredLength(((0.0, 0.0, 0.0), (12.0, 0.0, 0.0)), frame)})


@pytest.mark.parametrize("notes", ["", "  ", "ends in spaces  ", "ends in a newline\n", "\tindented"])
def test_notes_dicom_text_would_not_keep_come_back_exactly(notes, images):
    document = preset_document("typical_right_lobe")
    document["notes"] = notes
    round_trip(document, images)


def test_plain_notes_are_a_comment_and_nothing_else(images):
    document = preset_document("typical_right_lobe")
    document["notes"] = "B4 joins the LHD low"
    anatomy = group_named(written_and_read(build(document, images)), "Biliary anatomy")
    assert only(children(anatomy, ("DCM", "121106"), "TEXT")).TextValue == "B4 joins the LHD low"
    assert not children(anatomy, ("99LDLT", "NOTES-EXACT"))


def test_highdicom_reads_the_report_back(images, tmp_path):
    path = tmp_path / "sr.dcm"
    build(preset_document("typical_right_lobe"), images).save_as(path, enforce_file_format=True)
    sr = hd.sr.srread(path)
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    report = sr.content
    assert isinstance(report, hd.sr.MeasurementReport)
    groups = report.get_image_measurement_groups()
    assert [g.tracking_identifier for g in groups] == ["Biliary anatomy"] + [
        d["id"] for d in preset_document("typical_right_lobe")["ducts"]
    ]
    rhd = groups[3]
    (length,) = rhd.get_measurements(name=codes.SCT.Length)
    assert (length.value, length.unit.value) == (7.0, "mm")
    observer = report.get_observer_contexts()[0]
    assert observer.observer_type == codes.DCM.Person
    assert str(observer.observer_identifying_attributes.name) == "Yilmaz^Ayse"
    again = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(path))
    assert document_from_sr(again) == preset_document("typical_right_lobe")


def test_the_same_revision_gives_the_same_instance(images):
    first = build(preset_document("typical_right_lobe"), images)
    second = build(preset_document("typical_right_lobe"), images)
    assert first.SOPInstanceUID == second.SOPInstanceUID
    assert derived_uid("a", "b") != derived_uid("a", "c")
    assert re.fullmatch(r"2\.25\.\d+", first.SOPInstanceUID) and len(first.SOPInstanceUID) <= 64


# ---------------------------------------------------------------- refusals


def test_a_value_the_report_could_not_give_back_is_refused_naming_the_field(images):
    document = preset_document("typical_right_lobe")
    document["ducts"][0]["length_mm"] = "14"
    with pytest.raises(NotWritable, match=r"RAHD\.length_mm"):
        build(document, images)
    document = preset_document("typical_right_lobe")
    document["colour"] = "green"
    with pytest.raises(NotWritable, match=r"document\.colour"):
        build(document, images)
    with pytest.raises(ValueError, match="images"):
        build(preset_document("typical_right_lobe"), [])


def test_an_sr_of_something_else_is_not_read_as_an_anatomy(images):
    with pytest.raises(NotAnAnatomySR):
        document_from_sr(pydicom.Dataset())
    sr = written_and_read(build(preset_document("typical_right_lobe"), images))
    graft = only(children(group_named(sr, "Biliary anatomy"), ("99LDLT", "GRAFT")))
    graft.ConceptCodeSequence[0].CodeValue = "GRAFT-XYZ"  # a value this app never writes
    with pytest.raises(NotAnAnatomySR, match="GRAFT-XYZ"):
        document_from_sr(sr)


# ---------------------------------------------------------------- which lengths came from the viewer


def test_a_length_comes_from_the_newest_measurement_that_names_the_duct_with_that_length():
    document = preset_document("typical_right_lobe")  # RHD 7.0, LHD 15.0
    newest, older = [(0, 0, 0), (7.04, 0, 0)], [(1, 1, 1), (8.0, 1, 1)]
    measurements = [
        ViewerMeasurement(label="rhd: origin to confluence", length_mm=7.04, patient_points=newest),
        ViewerMeasurement(label="RHD", length_mm=7.0, patient_points=older),
        ViewerMeasurement(label="LHD", length_mm=15.2, patient_points=older),  # another length
        ViewerMeasurement(label="B23", length_mm=15.0, patient_points=older),  # names another duct
        ViewerMeasurement(label="", length_mm=8.0, patient_points=older),  # names none
    ]
    found = lengths_from_measurements(document, measurements, "1.2.3")
    assert found == {"RHD": MeasuredLength(((0.0, 0.0, 0.0), (7.04, 0.0, 0.0)), "1.2.3")}
    assert lengths_from_measurements(document, measurements, "") == {}  # no frame of reference to place them in
