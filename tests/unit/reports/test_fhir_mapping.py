"""The FHIR mapping of an issued report: codes, units and values equal the report's; every resource parses
back with fhir.resources' R4B models; references resolve to contained resources."""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
import re
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.operationoutcome import OperationOutcome

from reports.fhir import mapping

ISSUED_AT = "2026-11-20T09:30:00+01:00"
STUDY_UID = "1.2.826.0.1.3680043.8.498.12345678901234567890"


def check(key, value, unit, state="pass", threshold="a threshold", detail="a detail"):
    return {
        "check": key,
        "title": key.upper(),
        "state": state,
        "value": value,
        "unit": unit,
        "threshold": threshold,
        "source": "a source",
        "detail": detail,
        "owner": "radiologist",
        "optional": False,
    }


def system(name, label, type_, provisional=False):
    return {
        "system": name,
        "label": label,
        "scale": "a scale",
        "type": type_,
        "rule": f"the rule giving {label} {type_}",
        "provisional": provisional,
        "unrepresented": [],
        "flags": [],
    }


def content() -> dict[str, Any]:
    """An issued version's content, shaped as reports.content.report_content freezes it."""
    return {
        "format": "ldlt-suitability-report/1",
        "identity": {"donor_id": 7, "donor_code": "D-042", "centre": "Home Centre", "centre_code": "home"},
        "demographics": {
            "sex": "Female",
            "age_years": 41,
            "height_cm": 168.5,
            "weight_kg": 64.2,
            "bmi": 22.6,
            "bsa_m2": 1.73,
            "bsa_formula": "mosteller",
        },
        "labs": {
            "recorded": True,
            "values": [
                {"label": "AST", "value": 23.0, "unit": "U/L"},
                {"label": "AST upper limit of normal", "value": 40.0, "unit": "U/L"},
                {"label": "ALT", "value": 31.0, "unit": "U/L"},
                {"label": "ALT upper limit of normal", "value": 41.0, "unit": "U/L"},
                {"label": "Platelets", "value": 251.0, "unit": "×10⁹/L"},
                {"label": "Total bilirubin", "value": 0.6, "unit": "mg/dL"},
                {"label": "Albumin", "value": 4.4, "unit": "g/dL"},
                {"label": "INR", "value": 1.02, "unit": ""},
                {"label": "Creatinine", "value": 0.8, "unit": "mg/dL"},
            ],
            "serology": "HBsAg, anti-HCV and HIV negative",
            "apri": check("apri", 0.23, "", threshold="> 0.5 flagged"),
            "fib4": check("fib4", 0.64, ""),
            "measured_on": "2026-10-27",
        },
        "steatosis": {
            "assessments": [
                {
                    "modality": "mri_pdff",
                    "label": "MRI proton density fat fraction",
                    "measures": [{"label": "proton density fat fraction", "value": 6.1, "unit": "%"}],
                    "check": check("steatosis_pdff", 6.1, "%", state="borderline"),
                    "measured_on": "2026-11-01",
                },
                {
                    "modality": "dual_echo",
                    "label": "Dual-echo chemical shift MRI",
                    "measures": [
                        {"label": "in-phase signal", "value": 410.0, "unit": ""},
                        {"label": "opposed-phase signal", "value": 380.0, "unit": ""},
                        {"label": "signal fat fraction", "value": 3.7, "unit": "%"},
                    ],
                    "check": check("steatosis_dual_echo", 3.7, "%"),
                    "measured_on": "2026-10-30",
                },
            ],
            "deciding_modality": "mri_pdff",
            "deciding_state": "borderline",
            "basis": "the most direct measure recorded decides",
        },
        "volumetry": {
            "recorded": True,
            "grwr": check("grwr", 1.15, "%", threshold=">= 0.8 %"),
            "remnant": check("remnant", 38.2, "%", state="pass"),
            "gv_slv": check("gv_slv", None, "%", state="missing"),
            "measured_on": "2026-11-01",
        },
        "biliary": {
            "recorded": True,
            "final": True,
            "study_uid": STUDY_UID,
            "finalised_at": "2026-11-02T10:00:00+00:00",
            "rules_version": "2024.2",
            "systems": [
                system("proposed", "Proposed (Durur Karakaya 2024)", "2"),
                system("couinaud", "Couinaud", "D1"),
                system("huang", "Huang", "3"),
                system("choi", "Choi", "3A"),
                system("karakas", "Karakas", "K3b", provisional=True),
                system("ohkubo", "Ohkubo", "D", provisional=True),
            ],
            "mip": {"series_id": 3, "study_uid": STUDY_UID, "study_date": "20261101", "series_number": 5},
        },
        "prediction": {
            "anastomoses": 2,
            "suitability": "suitable_may_need_additional_anastomosis",
            "suitability_label": "suitable, may need an additional anastomosis",
            "technique": "end-to-end",
            "technique_basis": "the recipient's own duct is usable",
            "probability": 0.7368421052631579,
            "ci95": [0.5, 0.9],
            "prior_cases": 19,
            "prior_matched": 14,
            "local_cases": 0,
            "local_matched": 0,
            "model": "beta-binomial",
        },
        "checks": [check("bmi", 22.6, "kg/m²")],
        "decision": {
            "complete": True,
            "outcome": "suitable",
            "outcome_label": "Suitable",
            "sign_offs": [
                {"role": "radiologist", "role_label": "Radiologist", "signed": True, "by": "Ada Reader"},
                {"role": "hepatologist", "role_label": "Hepatologist", "signed": True, "by": "Bea Liver"},
                {"role": "surgeon", "role_label": "Surgeon", "signed": True, "by": "Cy Cutter"},
            ],
        },
        "conclusion": {"state": "suitable", "text": "Suitable: multidisciplinary decision signed."},
        "issued": {"number": 2, "by": "Cy Cutter", "at": ISSUED_AT},
    }


PDF = b"%PDF-1.7 issued report bytes"


def issued(c=None, *, centre_code="home", mrn="MRN-0042", study=True, pdf=None) -> mapping.IssuedReport:
    return mapping.IssuedReport(
        version_id=31,
        number=2,
        issued_at=ISSUED_AT,
        content=c if c is not None else content(),
        centre=mapping.Centre(code=centre_code, name="Home Centre"),
        patient=mapping.Patient(
            donor_id=7,
            code="D-042",
            mrn=mrn,
            given_name="Ayse" if mrn else None,
            family_name="Donor" if mrn else None,
            birth_date="1985-03-04" if mrn else None,
            sex="female",
        ),
        study=mapping.Study(
            uid=STUDY_UID,
            date="20261101",
            description="MRCP",
            series=(
                mapping.Series(uid=STUDY_UID + ".1", number=5, modality="MR", description="3D MRCP", instances=40),
                mapping.Series(uid=STUDY_UID + ".2", number=6, modality="MR", description="", instances=12),
            ),
        )
        if study
        else None,
        pdf=pdf,
    )


def build(report=None) -> dict[str, Any]:
    return mapping.as_json(mapping.diagnostic_report(report or issued()))


def contained(resource, resource_id) -> dict[str, Any]:
    return next(r for r in resource["contained"] if r["id"] == resource_id)


def observations(resource) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in resource["contained"] if r["resourceType"] == "Observation"}


def by_loinc(resource) -> dict[str, dict[str, Any]]:
    out = {}
    for obs in observations(resource).values():
        for coding in obs["code"]["coding"]:
            if coding["system"] == mapping.LOINC:
                out[coding["code"]] = obs
    return out


def references(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            found.append(node["reference"])
        for value in node.values():
            found += references(value)
    elif isinstance(node, list):
        for item in node:
            found += references(item)
    return found


def instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------- it is FHIR


def test_every_resource_parses_back_with_the_r4b_models():
    resource = build(issued(pdf=mapping.Pdf(title="the PDF", data=PDF)))
    text = json.dumps(resource)
    again = DiagnosticReport.model_validate_json(text)
    assert mapping.as_json(again) == resource
    kinds = set()
    for item in resource["contained"]:
        model = get_fhir_model_class(item["resourceType"])
        assert mapping.as_json(model.model_validate(item)) == item
        kinds.add(item["resourceType"])
    assert kinds == {"Patient", "Organization", "Practitioner", "ImagingStudy", "Observation"}


def test_every_reference_resolves_to_a_contained_resource_and_every_contained_one_is_referenced():
    resource = build()
    ids = [r["id"] for r in resource["contained"]]
    assert len(ids) == len(set(ids))
    refs = references(resource)
    assert refs and all(r.startswith("#") for r in refs)
    assert {r[1:] for r in refs} <= set(ids)
    # dom-3: each contained resource is referenced from the report or from another contained resource.
    assert set(ids) <= {r[1:] for r in refs}
    assert all(re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", i) for i in ids)


def test_the_report_is_final_issued_when_the_version_was_with_its_conclusion_and_parties():
    c = content()
    resource = build()
    assert resource["status"] == "final" and resource["id"] == "31"
    assert instant(resource["issued"]) == instant(ISSUED_AT)
    assert resource["conclusion"] == c["conclusion"]["text"]
    assert resource["conclusionCode"][0]["coding"][0]["code"] == c["decision"]["outcome"]
    assert resource["subject"]["reference"] == "#patient"
    assert resource["identifier"][0]["value"] == "D-042/2"
    assert resource["performer"] == [
        {"reference": "#centre", "display": "Home Centre"},
        {"reference": "#issuer", "display": c["issued"]["by"]},
    ]
    signers = [contained(resource, r["reference"][1:])["name"][0]["text"] for r in resource["resultsInterpreter"]]
    assert signers == [s["by"] for s in c["decision"]["sign_offs"]]
    assert {r["reference"] for r in resource["result"]} == {f"#{i}" for i in observations(resource)}
    for obs in observations(resource).values():
        assert obs["status"] == "final" and obs["subject"] == {"reference": "#patient"}
        assert instant(obs["issued"]) == instant(ISSUED_AT)


# ---------------------------------------------------------------- values, codes and units


def test_height_weight_bmi_and_bsa_carry_loinc_codes_ucum_units_and_the_reports_values():
    demographics = content()["demographics"]
    loinc = by_loinc(build())
    expected = {
        "8302-2": (demographics["height_cm"], "cm"),
        "29463-7": (demographics["weight_kg"], "kg"),
        "39156-5": (demographics["bmi"], "kg/m2"),
        "8277-6": (demographics["bsa_m2"], "m2"),
    }
    for code, (value, unit) in expected.items():
        quantity = loinc[code]["valueQuantity"]
        assert quantity["value"] == pytest.approx(value)
        assert quantity["system"] == mapping.UCUM and quantity["code"] == unit
    assert loinc["39156-5"]["interpretation"][0]["coding"][0]["code"] == "pass"
    assert "mosteller" in loinc["8277-6"]["method"]["text"]


LAB_LOINC = {
    "AST": ("1920-8", "U/L"),
    "ALT": ("1742-6", "U/L"),
    "Platelets": ("26515-7", "10*9/L"),
    "Total bilirubin": ("1975-2", "mg/dL"),
    "Albumin": ("1751-7", "g/dL"),
    "INR": ("6301-6", "{INR}"),
    "Creatinine": ("2160-0", "mg/dL"),
}


def test_labs_carry_their_loinc_codes_and_the_upper_limits_as_reference_ranges():
    labs = content()["labs"]
    values = {v["label"]: v["value"] for v in labs["values"]}
    loinc = by_loinc(build())
    for label, (code, unit) in LAB_LOINC.items():
        obs = loinc[code]
        assert obs["code"]["text"] == label
        assert obs["valueQuantity"]["value"] == pytest.approx(values[label])
        assert obs["valueQuantity"]["code"] == unit and obs["valueQuantity"]["system"] == mapping.UCUM
        assert obs["effectiveDateTime"] == labs["measured_on"]
    assert loinc["1920-8"]["referenceRange"][0]["high"]["value"] == values["AST upper limit of normal"]
    assert loinc["1742-6"]["referenceRange"][0]["high"]["value"] == values["ALT upper limit of normal"]
    assert "referenceRange" not in loinc["1975-2"]
    # The upper limits are ranges of their values, not results of their own.
    assert len(loinc) == 4 + len(LAB_LOINC)
    obs = observations(build())
    assert obs["serology"]["valueString"] == labs["serology"]
    assert obs["apri"]["valueQuantity"]["value"] == labs["apri"]["value"]
    assert obs["apri"]["referenceRange"][0]["text"].endswith(labs["apri"]["threshold"])
    assert obs["fib4"]["valueQuantity"]["value"] == labs["fib4"]["value"]
    for local in ("serology", "apri", "fib4"):
        assert obs[local]["code"]["coding"][0]["system"] == mapping.OBSERVATION_CODES


def test_grwr_and_remnant_are_percentages_with_the_centres_judgement():
    volumetry = content()["volumetry"]
    obs = observations(build())
    for key, check_ in (("grwr", volumetry["grwr"]), ("remnant", volumetry["remnant"])):
        quantity = obs[key]["valueQuantity"]
        assert quantity["value"] == check_["value"] and quantity["code"] == "%" and quantity["system"] == mapping.UCUM
        assert obs[key]["interpretation"][0]["coding"][0] == {
            "system": mapping.CHECK_STATES,
            "code": check_["state"],
            "display": mapping.CHECK_STATE_LABELS[check_["state"]],
        }
        assert obs[key]["effectiveDateTime"] == volumetry["measured_on"]
    assert obs["grwr"]["code"]["coding"][0]["code"] == "grwr"
    assert obs["remnant"]["code"]["coding"][0]["code"] == "remnant-volume-percent"
    # A check not recorded is no result.
    assert "gv-slv" not in obs


def test_steatosis_every_modality_recorded_with_its_measures_and_the_deciding_one_named():
    steatosis = content()["steatosis"]
    obs = observations(build())
    pdff, dual = obs["steatosis-mri-pdff"], obs["steatosis-dual-echo"]
    assert pdff["valueQuantity"]["value"] == 6.1 and pdff["valueQuantity"]["code"] == "%"
    assert pdff["interpretation"][0]["coding"][0]["code"] == "borderline"
    assert any("deciding" in n["text"] for n in pdff["note"])
    assert not any("deciding" in n["text"] for n in dual["note"])
    measures = steatosis["assessments"][1]["measures"]
    assert [c["code"]["coding"][0]["display"].lower() for c in dual["component"]] == [m["label"] for m in measures]
    assert [c["valueQuantity"]["value"] for c in dual["component"]] == [m["value"] for m in measures]
    assert dual["valueQuantity"]["value"] == steatosis["assessments"][1]["check"]["value"]
    assert "component" not in pdff


def test_each_classification_systems_type_in_its_own_code_system_derived_from_the_mrcp():
    systems = content()["biliary"]["systems"]
    obs = observations(build())
    seen = set()
    for entry in systems:
        o = obs[f"biliary-{entry['system']}"]
        coding = o["valueCodeableConcept"]["coding"][0]
        assert coding["code"] == entry["type"]
        assert coding["system"] == mapping.classification_system(entry["system"])
        assert o["derivedFrom"] == [{"reference": "#mrcp"}]
        assert o["note"][0]["text"] == entry["rule"]
        assert any("provisional" in n["text"] for n in o["note"]) == entry["provisional"]
        seen.add(coding["system"])
    assert len(seen) == 6


def test_the_predicted_anastomoses_with_its_probability_and_interval():
    prediction = content()["prediction"]
    obs = observations(build())["prediction"]
    assert obs["valueInteger"] == prediction["anastomoses"]
    components = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    assert components["prediction-probability"]["valueQuantity"]["value"] == pytest.approx(prediction["probability"])
    assert components["prediction-probability-ci95-lower"]["valueQuantity"]["value"] == prediction["ci95"][0]
    assert components["prediction-probability-ci95-upper"]["valueQuantity"]["value"] == prediction["ci95"][1]
    assert components["predicted-technique"]["valueString"] == prediction["technique"]
    assert (
        components["prediction-suitability"]["valueCodeableConcept"]["coding"][0]["code"] == prediction["suitability"]
    )
    assert obs["derivedFrom"] == [
        {"reference": "#biliary-proposed", "display": "Biliary anatomy type (Proposed (Durur Karakaya 2024))"}
    ]
    assert "14 of 19" in obs["note"][0]["text"]


# ---------------------------------------------------------------- patient, study, PDF


def test_the_patient_carries_the_centres_mrn_in_a_system_of_that_centre():
    resource = build()
    patient = contained(resource, "patient")
    mrn = patient["identifier"][0]
    assert mrn["value"] == "MRN-0042" and mrn["system"] == mapping.mrn_system("home")
    assert mrn["type"]["coding"][0]["code"] == "MR"
    assert resource["subject"]["identifier"] == {"system": mapping.mrn_system("home"), "value": "MRN-0042"}
    assert patient["gender"] == "female" and patient["birthDate"] == "1985-03-04"
    assert patient["name"] == [{"use": "official", "family": "Donor", "given": ["Ayse"]}]
    other = contained(build(issued(centre_code="other")), "patient")["identifier"][0]["system"]
    assert other != mrn["system"]
    assert mapping.mrn_system("home") == mapping.mrn_system("home")  # stable, derived from the name alone
    assert re.fullmatch(r"urn:oid:2\.25\.[1-9][0-9]*", mrn["system"])


def test_a_donor_known_only_by_code_has_no_mrn_identifier():
    resource = build(issued(mrn=None))
    patient = contained(resource, "patient")
    assert [i["value"] for i in patient["identifier"]] == ["D-042"]
    assert "name" not in patient and "identifier" not in resource["subject"]


def test_the_imaging_study_is_named_by_its_study_instance_uid():
    resource = build()
    study = contained(resource, "mrcp")
    assert study["identifier"] == [{"system": "urn:dicom:uid", "value": f"urn:oid:{STUDY_UID}"}]
    assert study["status"] == "available" and study["started"].startswith("2026-11-01")
    assert [s["uid"] for s in study["series"]] == [STUDY_UID + ".1", STUDY_UID + ".2"]
    assert study["numberOfInstances"] == 52 and study["numberOfSeries"] == 2
    assert resource["imagingStudy"] == [{"reference": "#mrcp", "display": "MRCP"}]


def test_the_pdf_is_linked_or_embedded_with_its_sha1():
    linked = build(issued(pdf=mapping.Pdf(title="t", url="https://x.example/api/v1/reports/31/pdf/")))
    form = linked["presentedForm"][0]
    assert form["contentType"] == "application/pdf" and form["url"].endswith("/31/pdf/") and "data" not in form
    embedded = build(issued(pdf=mapping.Pdf(title="t", data=PDF)))["presentedForm"][0]
    assert base64.b64decode(embedded["data"]) == PDF and embedded["size"] == len(PDF)
    assert base64.b64decode(embedded["hash"]) == hashlib.sha1(PDF).digest()
    assert "presentedForm" not in build(issued(pdf=None))


def test_a_sparse_report_maps_only_what_it_holds():
    c = content()
    c["labs"] = {"recorded": False, "values": [], "serology": "", "apri": None, "fib4": None}
    c["prediction"] = None
    c["steatosis"] = {"assessments": [], "deciding_modality": None}
    c["volumetry"] = {"recorded": False, "grwr": None, "remnant": None, "gv_slv": None}
    c["biliary"] = {"recorded": False, "systems": []}
    c["decision"] = None
    c["demographics"] = {"height_cm": None, "weight_kg": None, "bmi": None, "bsa_m2": None}
    resource = build(issued(c, study=False))
    DiagnosticReport.model_validate(resource)
    assert "result" not in resource and "imagingStudy" not in resource and "resultsInterpreter" not in resource
    assert {r["resourceType"] for r in resource["contained"]} == {"Patient", "Organization", "Practitioner"}


def test_the_mapping_does_not_change_the_content_it_reads():
    c = content()
    before = copy.deepcopy(c)
    build(issued(c))
    assert c == before


# ---------------------------------------------------------------- search, capabilities, errors


def test_a_searchset_bundle_parses_back():
    report = mapping.diagnostic_report(issued())
    bundle = mapping.as_json(
        mapping.searchset(
            [("https://x.example/fhir/DiagnosticReport/31", report)],
            self_url="https://x.example/fhir/DiagnosticReport?patient=7",
            timestamp="2026-12-01T10:00:00+00:00",
            bundle_id="b1",
        )
    )
    assert Bundle.model_validate(bundle).type == "searchset"
    assert bundle["total"] == 1 and bundle["entry"][0]["search"] == {"mode": "match"}
    assert bundle["entry"][0]["resource"]["id"] == "31"


def test_the_capability_statement_and_operation_outcomes_parse_back():
    statement = mapping.as_json(
        mapping.capability_statement(base_url="https://x.example/fhir", date="2026-12-01", software="s", version="1")
    )
    CapabilityStatement.model_validate(statement)
    resource = statement["rest"][0]["resource"][0]
    assert resource["type"] == "DiagnosticReport"
    assert {i["code"] for i in resource["interaction"]} == {"read", "search-type"}
    assert [p["name"] for p in resource["searchParam"]] == ["patient"]
    assert statement["fhirVersion"] == "4.0.1" and mapping.FHIR_JSON in statement["format"]
    for status, code in (
        (400, "invalid"),
        (401, "login"),
        (403, "forbidden"),
        (404, "not-found"),
        (406, "not-supported"),
    ):
        outcome = mapping.as_json(mapping.operation_outcome(status, "why", ["patient"]))
        OperationOutcome.model_validate(outcome)
        assert outcome["issue"][0] == {
            "severity": "error",
            "code": code,
            "diagnostics": "why",
            "expression": ["patient"],
        }
