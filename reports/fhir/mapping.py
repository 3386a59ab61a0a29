"""An issued suitability report as FHIR R4: plain data in, validated FHIR resources out (no Django).

`diagnostic_report(report)` builds one DiagnosticReport holding, as contained resources, everything it
refers to: the Patient (the centre's MRN as identifier), the centre (Organization), the people who issued
and signed it (Practitioner), the MRCP (ImagingStudy, its Study Instance UID as identifier) and one
Observation per measurement or check. Contained, because the Observations are parts of a frozen report
version with no life of their own, and because the receiver gets one self-standing document whose
values can never drift from the PDF it carries.

Every value is the issued version's own (the frozen content dict), in the report's units, coded with
LOINC and UCUM where a code exists and with the app's own code systems otherwise. Those code systems and
the per-centre identifier systems are OIDs under 2.25 (ISO/IEC 9834-8: a UUID as OID, no registration
needed), derived from a name, so they never change and need no host name.

Every resource is validated with fhir.resources' R4B models, which read these R4 resources.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.operationoutcome import OperationOutcome

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
DICOM_UID = "urn:dicom:uid"
DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"

# The app's namespace for name-based UUIDs (fixed once; the OIDs below depend on it).
NAMESPACE = uuid.UUID("7c260e41-3197-4fda-ae1f-7939a9645354")


def oid_for(name: str) -> str:
    """A stable OID for one of the app's code or identifier systems: 2.25 + the UUID of its name."""
    return f"urn:oid:2.25.{uuid.uuid5(NAMESPACE, name).int}"


# The app's own code systems.
OBSERVATION_CODES = oid_for("code-system/observations")
REPORT_CODES = oid_for("code-system/reports")
CHECK_STATES = oid_for("code-system/check-states")
DECISION_OUTCOMES = oid_for("code-system/decision-outcomes")
PREDICTION_SUITABILITY = oid_for("code-system/prediction-suitability")


def classification_system(system: str) -> str:
    """The code system of one classification's types (proposed, couinaud, huang, choi, karakas, ohkubo)."""
    return oid_for(f"code-system/biliary-classification/{system}")


def mrn_system(centre_code: str) -> str:
    """The identifier system of a centre's medical record numbers."""
    return oid_for(f"centre/{centre_code}/mrn")


def donor_code_system(centre_code: str) -> str:
    """The identifier system of a centre's pseudonymous donor codes."""
    return oid_for(f"centre/{centre_code}/donor-code")


def report_identifier_system(centre_code: str) -> str:
    """The identifier system of a centre's issued report versions (`<donor code>/<version>`)."""
    return oid_for(f"centre/{centre_code}/suitability-report")


def centre_identifier_system() -> str:
    return oid_for("centres")


# ---------------------------------------------------------------- codes

# Report unit -> UCUM code. The unit shown stays the report's own.
UCUM_CODES = {
    "cm": "cm",
    "kg": "kg",
    "kg/m²": "kg/m2",
    "m²": "m2",
    "U/L": "U/L",
    "×10⁹/L": "10*9/L",
    "mg/dL": "mg/dL",
    "g/dL": "g/dL",
    "%": "%",
    "HU": "[hnsf'U]",
    "mm": "mm",
    "mL": "mL",
    "years": "a",
}


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str

    def concept(self, text: str | None = None) -> dict[str, Any]:
        return {
            "coding": [{"system": self.system, "code": self.code, "display": self.display}],
            "text": text or self.display,
        }


# Laboratory values by the report's label: LOINC code and, for INR, the UCUM unit the report leaves blank.
LAB_LOINC: dict[str, tuple[Code, str | None]] = {
    "AST": (Code(LOINC, "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma"), None),
    "ALT": (Code(LOINC, "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma"), None),
    "Platelets": (Code(LOINC, "26515-7", "Platelets [#/volume] in Blood"), None),
    "Total bilirubin": (Code(LOINC, "1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma"), None),
    "Albumin": (Code(LOINC, "1751-7", "Albumin [Mass/volume] in Serum or Plasma"), None),
    "INR": (Code(LOINC, "6301-6", "INR in Platelet poor plasma by Coagulation assay"), "{INR}"),
    "Creatinine": (Code(LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"), None),
}
# An upper limit of normal is the reference range of the value it belongs to, not a result of its own.
UPPER_LIMITS = {"AST upper limit of normal": "AST", "ALT upper limit of normal": "ALT"}

HEIGHT = Code(LOINC, "8302-2", "Body height")
WEIGHT = Code(LOINC, "29463-7", "Body weight")
BMI = Code(LOINC, "39156-5", "Body mass index (BMI) [Ratio]")
BSA = Code(LOINC, "8277-6", "Body surface area")


def local(code: str, display: str) -> Code:
    return Code(OBSERVATION_CODES, code, display)


SEROLOGY = local("serology", "Donor serology")
APRI = local("apri", "AST to platelet ratio index (APRI)")
FIB4 = local("fib4", "Fibrosis-4 index (FIB-4)")
GRWR = local("grwr", "Graft-to-recipient weight ratio")
REMNANT = local("remnant-volume-percent", "Remnant liver volume, % of total liver volume")
GV_SLV = local("graft-volume-slv-percent", "Graft volume, % of the recipient's standard liver volume")
PREDICTED_ANASTOMOSES = local("predicted-biliary-anastomoses", "Predicted number of biliary anastomoses")
PROBABILITY = local("prediction-probability", "Probability of the predicted number of anastomoses")
PROBABILITY_LOW = local("prediction-probability-ci95-lower", "Lower bound of its 95 % interval")
PROBABILITY_HIGH = local("prediction-probability-ci95-upper", "Upper bound of its 95 % interval")
TECHNIQUE = local("predicted-technique", "Predicted biliary reconstruction technique")
SUITABILITY = local("prediction-suitability", "Suitability by the biliary type")
REPORT_CODE = Code(REPORT_CODES, "living-donor-liver-suitability", "Living liver donor suitability report")
CHECK_STATE_LABELS = {
    "pass": "Passes the centre's threshold",
    "borderline": "Borderline against the centre's threshold",
    "fail": "Fails the centre's threshold",
    "missing": "Not recorded",
    "not_needed": "Not needed",
}
GENDERS = {"female": "female", "male": "male"}


def steatosis_code(modality: str, label: str) -> Code:
    return local(f"steatosis-{modality.replace('_', '-')}", f"Hepatic steatosis: {label}")


def measure_code(label: str) -> Code:
    return local(re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-"), label[:1].upper() + label[1:])


def classification_code(system: str, label: str) -> Code:
    return local(f"biliary-type-{system}", f"Biliary anatomy type ({label})")


# ---------------------------------------------------------------- plain data in


@dataclass(frozen=True)
class Centre:
    code: str
    name: str


@dataclass(frozen=True)
class Patient:
    donor_id: int
    code: str
    mrn: str | None  # None for a donor known only by its code (imported outcomes)
    given_name: str | None = None
    family_name: str | None = None
    birth_date: str | None = None  # ISO date
    sex: str | None = None  # female, male


@dataclass(frozen=True)
class Series:
    uid: str
    number: int | None
    modality: str
    description: str
    instances: int


@dataclass(frozen=True)
class Study:
    uid: str
    date: str = ""  # DICOM DA, YYYYMMDD
    description: str = ""
    series: tuple[Series, ...] = ()
    available: bool = True  # False when the study is no longer the donor's in the app


@dataclass(frozen=True)
class Pdf:
    """The issued PDF: a link to the permission-checked download, or its bytes."""

    title: str
    created: str | None = None
    url: str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class IssuedReport:
    version_id: int
    number: int
    issued_at: str  # ISO instant with its offset
    content: Mapping[str, Any]  # the issued version's frozen content
    centre: Centre
    patient: Patient
    study: Study | None = None
    pdf: Pdf | None = None


# ---------------------------------------------------------------- resources


def ref(resource_id: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": f"#{resource_id}"}
    if display:
        out["display"] = display
    return out


def quantity(value: float | int, unit: str, ucum: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    code = ucum or UCUM_CODES.get(unit)
    if unit or code:
        out["unit"] = unit or code
    if code:
        out |= {"system": UCUM, "code": code}
    return out


def fhir_date(value: str | None) -> str | None:
    """ISO date, or a datetime's date part; a DICOM DA (YYYYMMDD) as ISO."""
    if not value:
        return None
    if re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value[:10]


@dataclass
class _Builder:
    report: IssuedReport
    contained: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def content(self) -> Mapping[str, Any]:
        return self.report.content

    def observation(
        self,
        resource_id: str,
        code: Code,
        *,
        value: dict[str, Any],
        effective: str | None = None,
        check: Mapping[str, Any] | None = None,
        text: str | None = None,
        **more: Any,
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": resource_id,
            "status": "final",
            "code": code.concept(text),
            "subject": ref("patient"),
            "issued": self.report.issued_at,
        }
        if effective:
            resource["effectiveDateTime"] = effective
        resource |= value
        if check is not None:
            state = check.get("state")
            if state in CHECK_STATE_LABELS:
                resource["interpretation"] = [
                    Code(CHECK_STATES, state, CHECK_STATE_LABELS[state]).concept(f"{check['title']}: {state}")
                ]
            if check.get("threshold"):
                more.setdefault("referenceRange", [{"text": f"centre threshold: {check['threshold']}"}])
            if check.get("detail"):
                more.setdefault("note", [{"text": check["detail"]}])
        resource |= more
        self.contained.append(resource)
        self.results.append(ref(resource_id, text or code.display))
        return resource

    def check_observation(
        self, resource_id: str, code: Code, check: Mapping[str, Any] | None, effective: str | None
    ) -> None:
        if check is None or check.get("value") is None:
            return
        value = check["value"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.observation(
                resource_id,
                code,
                value={"valueQuantity": quantity(value, check.get("unit") or "")},
                effective=effective,
                check=check,
            )
        else:
            self.observation(resource_id, code, value={"valueString": str(value)}, effective=effective, check=check)

    # -------------------------------------------------------- sections

    def demographics(self) -> None:
        demographics = self.content.get("demographics") or {}
        checks = {c["check"]: c for c in self.content.get("checks") or []}
        if demographics.get("height_cm") is not None:
            self.observation("height", HEIGHT, value={"valueQuantity": quantity(demographics["height_cm"], "cm")})
        if demographics.get("weight_kg") is not None:
            self.observation("weight", WEIGHT, value={"valueQuantity": quantity(demographics["weight_kg"], "kg")})
        if demographics.get("bmi") is not None:
            self.observation(
                "bmi", BMI, value={"valueQuantity": quantity(demographics["bmi"], "kg/m²")}, check=checks.get("bmi")
            )
        if demographics.get("bsa_m2") is not None:
            self.observation(
                "bsa",
                BSA,
                value={"valueQuantity": quantity(demographics["bsa_m2"], "m²")},
                method={"text": f"{demographics.get('bsa_formula') or 'unstated'} formula"},
            )

    def labs(self) -> None:
        labs = self.content.get("labs") or {}
        if not labs.get("recorded"):
            return
        effective = labs.get("measured_on")
        values = {v["label"]: v for v in labs.get("values") or []}
        limits = {UPPER_LIMITS[label]: v for label, v in values.items() if label in UPPER_LIMITS}
        for label, (code, ucum) in LAB_LOINC.items():
            entry = values.get(label)
            if entry is None or entry.get("value") is None:
                continue
            more: dict[str, Any] = {}
            limit = limits.get(label)
            if limit is not None and limit.get("value") is not None:
                more["referenceRange"] = [
                    {"high": quantity(limit["value"], limit.get("unit") or ""), "text": "upper limit of normal"}
                ]
            self.observation(
                f"lab-{code.code}",
                code,
                value={"valueQuantity": quantity(entry["value"], entry.get("unit") or "", ucum)},
                effective=effective,
                text=label,
                **more,
            )
        if labs.get("serology"):
            self.observation("serology", SEROLOGY, value={"valueString": labs["serology"]}, effective=effective)
        self.check_observation("apri", APRI, labs.get("apri"), effective)
        self.check_observation("fib4", FIB4, labs.get("fib4"), effective)

    def volumetry(self) -> None:
        volumetry = self.content.get("volumetry") or {}
        effective = volumetry.get("measured_on")
        self.check_observation("grwr", GRWR, volumetry.get("grwr"), effective)
        self.check_observation("remnant", REMNANT, volumetry.get("remnant"), effective)
        self.check_observation("gv-slv", GV_SLV, volumetry.get("gv_slv"), effective)

    def steatosis(self) -> None:
        steatosis = self.content.get("steatosis") or {}
        deciding = steatosis.get("deciding_modality")
        for assessment in steatosis.get("assessments") or []:
            modality = assessment["modality"]
            check = assessment.get("check") or {}
            measures = [m for m in assessment.get("measures") or [] if m.get("value") is not None]
            value: dict[str, Any] = {}
            if check.get("value") is not None:
                value["valueQuantity"] = quantity(check["value"], check.get("unit") or "")
            more: dict[str, Any] = {"method": {"text": assessment["label"]}}
            if len(measures) > 1 or not value:
                more["component"] = [
                    {
                        "code": measure_code(m["label"]).concept(),
                        "valueQuantity": quantity(m["value"], m.get("unit") or ""),
                    }
                    for m in measures
                ]
            if not value and not measures:
                continue
            notes = [{"text": check["detail"]}] if check.get("detail") else []
            if modality == deciding:
                basis = steatosis.get("basis")
                notes.append({"text": "the deciding steatosis measure" + (f": {basis}" if basis else "")})
            if notes:
                more["note"] = notes
            self.observation(
                f"steatosis-{modality.replace('_', '-')}",
                steatosis_code(modality, assessment["label"]),
                value=value,
                effective=assessment.get("measured_on"),
                check=check,
                **more,
            )

    def biliary(self) -> None:
        biliary = self.content.get("biliary") or {}
        effective = biliary.get("finalised_at")
        derived = [ref("mrcp")] if self.report.study is not None else []
        for entry in biliary.get("systems") or []:
            if not entry.get("type"):
                continue
            system, label = entry["system"], entry["label"]
            notes = [{"text": entry["rule"]}] if entry.get("rule") else []
            if entry.get("provisional"):
                notes.append({"text": "provisional: the anatomy does not show everything this system distinguishes"})
            notes += [{"text": f"not represented: {item}"} for item in entry.get("unrepresented") or []]
            more: dict[str, Any] = {
                "method": {"text": f"{label}, {entry.get('scale', '')} (rules {biliary.get('rules_version', '')})"}
            }
            if notes:
                more["note"] = notes
            if derived:
                more["derivedFrom"] = derived
            self.observation(
                f"biliary-{system}",
                classification_code(system, label),
                value={
                    "valueCodeableConcept": Code(
                        classification_system(system), str(entry["type"]), f"{label} {entry['type']}"
                    ).concept()
                },
                effective=effective,
                **more,
            )

    def prediction(self) -> None:
        prediction = self.content.get("prediction")
        if not prediction:
            return
        components: list[dict[str, Any]] = [
            {"code": PROBABILITY.concept(), "valueQuantity": quantity(prediction["probability"], "", "1")}
        ]
        ci95 = prediction.get("ci95") or []
        if len(ci95) == 2:
            components += [
                {"code": PROBABILITY_LOW.concept(), "valueQuantity": quantity(ci95[0], "", "1")},
                {"code": PROBABILITY_HIGH.concept(), "valueQuantity": quantity(ci95[1], "", "1")},
            ]
        if prediction.get("technique"):
            components.append({"code": TECHNIQUE.concept(), "valueString": prediction["technique"]})
        if prediction.get("suitability"):
            components.append(
                {
                    "code": SUITABILITY.concept(),
                    "valueCodeableConcept": Code(
                        PREDICTION_SUITABILITY,
                        prediction["suitability"],
                        prediction.get("suitability_label") or prediction["suitability"],
                    ).concept(),
                }
            )
        p = prediction
        cases = (
            f"{p.get('model') or 'model'}: {p.get('prior_matched')} of {p.get('prior_cases')} published cases "
            f"and {p.get('local_matched')} of {p.get('local_cases')} local cases matched"
        )
        notes = [{"text": cases}]
        if prediction.get("technique_basis"):
            notes.append({"text": prediction["technique_basis"]})
        self.observation(
            "prediction",
            PREDICTED_ANASTOMOSES,
            value={"valueInteger": int(prediction["anastomoses"])},
            component=components,
            note=notes,
            derivedFrom=[r for r in self.results if r["reference"] == "#biliary-proposed"],
        )

    # -------------------------------------------------------- the parties

    def patient(self) -> dict[str, Any]:
        patient, centre = self.report.patient, self.report.centre
        identifiers: list[dict[str, Any]] = []
        if patient.mrn:
            identifiers.append(
                {
                    "use": "usual",
                    "type": Code(IDENTIFIER_TYPE, "MR", "Medical record number").concept(),
                    "system": mrn_system(centre.code),
                    "value": patient.mrn,
                    "assigner": ref("centre", centre.name),
                }
            )
        identifiers.append(
            {
                "use": "secondary",
                "type": {"text": "Pseudonymous donor code"},
                "system": donor_code_system(centre.code),
                "value": patient.code,
                "assigner": ref("centre", centre.name),
            }
        )
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": "patient",
            "identifier": identifiers,
            "managingOrganization": ref("centre", centre.name),
        }
        if patient.family_name or patient.given_name:
            name: dict[str, Any] = {"use": "official"}
            if patient.family_name:
                name["family"] = patient.family_name
            if patient.given_name:
                name["given"] = [patient.given_name]
            resource["name"] = [name]
        if patient.sex:
            resource["gender"] = GENDERS.get(patient.sex, "unknown")
        if patient.birth_date:
            resource["birthDate"] = patient.birth_date
        return resource

    def organization(self) -> dict[str, Any]:
        centre = self.report.centre
        return {
            "resourceType": "Organization",
            "id": "centre",
            "identifier": [{"system": centre_identifier_system(), "value": centre.code}],
            "name": centre.name,
        }

    def practitioners(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The issuer (performer) and the decision's signatories (results interpreters)."""
        resources, interpreters = [], []
        issued = self.content.get("issued") or {}
        if issued.get("by"):
            resources.append({"resourceType": "Practitioner", "id": "issuer", "name": [{"text": issued["by"]}]})
        for sign_off in (self.content.get("decision") or {}).get("sign_offs") or []:
            if not sign_off.get("signed") or not sign_off.get("by"):
                continue
            resource_id = f"signatory-{sign_off['role']}"
            resources.append({"resourceType": "Practitioner", "id": resource_id, "name": [{"text": sign_off["by"]}]})
            interpreters.append(
                ref(resource_id, f"{sign_off['by']} ({sign_off.get('role_label') or sign_off['role']})")
            )
        return resources, interpreters

    def imaging_study(self) -> dict[str, Any] | None:
        study = self.report.study
        if study is None:
            return None
        resource: dict[str, Any] = {
            "resourceType": "ImagingStudy",
            "id": "mrcp",
            "identifier": [{"system": DICOM_UID, "value": f"urn:oid:{study.uid}"}],
            "status": "available" if study.available else "unknown",
            "subject": ref("patient"),
        }
        started = fhir_date(study.date)
        if started:
            resource["started"] = started
        if study.description:
            resource["description"] = study.description
        if study.series:
            modalities = sorted({s.modality for s in study.series if s.modality})
            resource |= {
                "modality": [{"system": DICOM_MODALITY, "code": m} for m in modalities],
                "numberOfSeries": len(study.series),
                "numberOfInstances": sum(s.instances for s in study.series),
                "series": [_series(s) for s in study.series],
            }
        return resource

    def presented_form(self) -> list[dict[str, Any]]:
        pdf = self.report.pdf
        if pdf is None:
            return []
        attachment: dict[str, Any] = {"contentType": "application/pdf", "language": "en", "title": pdf.title}
        if pdf.data is not None:
            attachment |= {
                "data": base64.b64encode(pdf.data).decode("ascii"),
                "size": len(pdf.data),
                # FHIR's Attachment.hash is the SHA-1 of the data, base64.
                "hash": base64.b64encode(hashlib.sha1(pdf.data).digest()).decode("ascii"),  # noqa: S324
            }
        if pdf.url:
            attachment["url"] = pdf.url
        if pdf.created:
            attachment["creation"] = pdf.created
        return [attachment]


def _series(series: Series) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uid": series.uid,
        "modality": {"system": DICOM_MODALITY, "code": series.modality or "OT"},
        "numberOfInstances": series.instances,
    }
    if series.number is not None:
        out["number"] = series.number
    if series.description:
        out["description"] = series.description
    return out


def diagnostic_report_dict(report: IssuedReport) -> dict[str, Any]:
    """The DiagnosticReport with its contained resources, as FHIR JSON values (not yet validated)."""
    builder = _Builder(report)
    content = report.content
    builder.demographics()
    builder.labs()
    builder.volumetry()
    builder.steatosis()
    builder.biliary()
    builder.prediction()
    practitioners, interpreters = builder.practitioners()
    study = builder.imaging_study()
    parties = [builder.patient(), builder.organization(), *practitioners]
    contained = parties + ([study] if study else []) + builder.contained

    identity = content.get("identity") or {}
    conclusion = content.get("conclusion") or {}
    decision = content.get("decision") or {}
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": str(report.version_id),
        "contained": contained,
        "identifier": [
            {
                "system": report_identifier_system(report.centre.code),
                "value": f"{identity.get('donor_code') or report.patient.code}/{report.number}",
            }
        ],
        "status": "final",
        "code": REPORT_CODE.concept(f"Living liver donor suitability report, version {report.number}"),
        "subject": {
            "reference": "#patient",
            "display": report.patient.code,
            **({"identifier": _mrn_identifier(report)} if report.patient.mrn else {}),
        },
        "issued": report.issued_at,
        "performer": [ref("centre", report.centre.name)],
    }
    issuer = (content.get("issued") or {}).get("by")
    if issuer:
        resource["performer"].append(ref("issuer", issuer))
    if interpreters:
        resource["resultsInterpreter"] = interpreters
    if builder.results:
        resource["result"] = builder.results
    if study is not None:
        resource["imagingStudy"] = [ref("mrcp", "MRCP")]
    if conclusion.get("text"):
        resource["conclusion"] = conclusion["text"]
    if decision.get("complete") and decision.get("outcome"):
        resource["conclusionCode"] = [
            Code(DECISION_OUTCOMES, decision["outcome"], decision.get("outcome_label") or decision["outcome"]).concept()
        ]
    presented = builder.presented_form()
    if presented:
        resource["presentedForm"] = presented
    return resource


def _mrn_identifier(report: IssuedReport) -> dict[str, Any]:
    return {"system": mrn_system(report.centre.code), "value": report.patient.mrn}


def diagnostic_report(report: IssuedReport) -> DiagnosticReport:
    """The validated DiagnosticReport of one issued report version."""
    return DiagnosticReport.model_validate(diagnostic_report_dict(report))


def as_json(resource: DiagnosticReport | Bundle | CapabilityStatement | OperationOutcome) -> dict[str, Any]:
    """A validated resource as FHIR JSON values."""
    return resource.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------- search, capabilities, errors


def searchset(
    reports: Iterable[tuple[str, DiagnosticReport]], *, self_url: str, timestamp: str, bundle_id: str
) -> Bundle:
    """A searchset Bundle of (full URL, DiagnosticReport) matches."""
    entries = [
        {"fullUrl": url, "resource": as_json(resource), "search": {"mode": "match"}} for url, resource in reports
    ]
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": bundle_id,
            "type": "searchset",
            "timestamp": timestamp,
            "total": len(entries),
            "link": [{"relation": "self", "url": self_url}],
            "entry": entries,
        }
    )


SEARCH_PARAMETERS = (
    (
        "patient",
        "reference",
        "The donor's id (as in /api/v1/donors/), or `Patient/<id>`; with `:identifier`, the centre's "
        "MRN as `<system>|<value>` (or the value alone).",
    ),
    ("_format", "special", "json, application/json or application/fhir+json (XML is not offered)."),
)


def capability_statement(*, base_url: str, date: str, software: str, version: str) -> CapabilityStatement:
    return CapabilityStatement.model_validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": date,
            "publisher": software,
            "kind": "instance",
            "software": {"name": software, "version": version},
            "implementation": {"description": f"{software}: issued suitability reports", "url": base_url},
            "fhirVersion": FHIR_VERSION,
            "format": [FHIR_JSON, "json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": "Issued suitability report versions of your centre's donors, each a "
                    "DiagnosticReport with its Patient, ImagingStudy and Observations contained.",
                    "security": {
                        "cors": False,
                        "description": "A centre's token (`Authorization: Token <key>`) or a logged-in session; "
                        "you see only your centre's donors, and every read is audited.",
                    },
                    "resource": [
                        {
                            "type": "DiagnosticReport",
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "versioning": "no-version",
                            "readHistory": False,
                            "searchParam": [
                                {"name": name, "type": kind, "documentation": text}
                                for name, kind, text in SEARCH_PARAMETERS
                                if not name.startswith("_")
                            ],
                        }
                    ],
                }
            ],
        }
    )


# FHIR issue-type code per HTTP status of an error.
ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    429: "throttled",
}


def operation_outcome(status: int, diagnostics: str, expression: Sequence[str] = ()) -> OperationOutcome:
    issue: dict[str, Any] = {
        "severity": "error",
        "code": ISSUE_TYPES.get(status, "exception"),
        "diagnostics": diagnostics,
    }
    if expression:
        issue["expression"] = list(expression)
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]})
