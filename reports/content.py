"""The suitability report of one donor as ONE plain dict (JSON values only).

`report_content(donor)` gathers everything the report states (docs/spec/donor-workup.md, "What a
suitability report holds") with a fixed number of SQL queries, whatever the number of workup
records, classification runs, results or sign-offs. The same dict is rendered by one template
for the page and the PDF, returned by the API, and frozen as the content of an issued version.

The donor must already be scoped to the reader's centre (`donors.selectors.donor_for`).
"""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Prefetch
from django.utils import timezone

from classification import selectors as classification_selectors
from classification.diagram import diagram_svg
from classification.document import RULES_VERSION
from classification.models import Annotation, ClassificationRun, SurgicalOutcome
from core.text import counted
from donors.models import Donor
from donors.workflow import Status
from imaging.selectors import mrcp_mip_series
from workup import criteria
from workup import selectors as ws
from workup.models import SIGNING_ROLES, SteatosisModality

from .models import IMPORTED_MRN

FORMAT = "ldlt-suitability-report/1"

SYSTEMS: dict[str, dict[str, str]] = {
    "proposed": {"label": "Proposed (Durur Karakaya 2024)", "scale": "types 1-3"},
    "couinaud": {"label": "Couinaud", "scale": "A-F"},
    "huang": {"label": "Huang", "scale": "1-5"},
    "choi": {"label": "Choi", "scale": "1-6"},
    "karakas": {"label": "Karakas", "scale": "K1-K4"},
    "ohkubo": {"label": "Ohkubo", "scale": "A-G (right side)"},
}

SUITABILITY = {
    "suitable": "suitable (safe donor)",
    "suitable_may_need_additional_anastomosis": "suitable, may need an additional anastomosis",
    "not_suitable": "not suitable by the study's rule",
}

# When several steatosis measures are recorded, the most direct one decides.
STEATOSIS_PRECEDENCE = (
    SteatosisModality.BIOPSY,
    SteatosisModality.MRI_PDFF,
    SteatosisModality.DUAL_ECHO,
    SteatosisModality.CT,
)
STEATOSIS_CHECK = {
    SteatosisModality.BIOPSY: "steatosis_biopsy",
    SteatosisModality.MRI_PDFF: "steatosis_pdff",
    SteatosisModality.DUAL_ECHO: "steatosis_dual_echo",
    SteatosisModality.CT: "steatosis_ct",
}


# ---------------------------------------------------------------- plain values


def plain(value: Any) -> Any:
    """Model values -> JSON values (Decimal -> float, dates -> ISO text), recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def person(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name().strip() or user.username


def _record_meta(record) -> dict:
    return {
        "measured_on": record.measured_on,
        "recorded_by": person(record.recorded_by),
        "recorded_at": record.recorded_at,
        "note": record.note,
    }


# ---------------------------------------------------------------- reads (fixed number of queries)


def _annotation(donor: Donor) -> Annotation | None:
    """The donor's annotation with the runs of the current rules and their results: 3 queries."""
    runs = ClassificationRun.objects.filter(rules_version=RULES_VERSION).prefetch_related("results")
    return (
        Annotation.objects.filter(donor=donor)
        .select_related("finalised_by", "updated_by")
        .prefetch_related(Prefetch("runs", queryset=runs, to_attr="current_runs"))
        .first()
    )


# ---------------------------------------------------------------- sections


def _demographics(donor: Donor, items: dict, thresholds: criteria.Thresholds) -> dict:
    height, weight = donor.height_cm, donor.weight_kg
    bsa = None
    if height and weight and height > 0 and weight > 0:
        bsa = round(criteria.body_surface_area(float(height), float(weight), thresholds.bsa_formula), 2)
    bmi_item = items.get("bmi")
    return {
        "sex": donor.get_sex_display() or None,
        "age_years": donor.age_years,
        "height_cm": height if height else None,
        "weight_kg": weight if weight else None,
        "bmi": bmi_item.value if bmi_item and bmi_item.value is not None else donor.bmi,
        "bsa_m2": bsa,
        "bsa_formula": thresholds.bsa_formula,
        "relationship": donor.get_relationship_display() or None,
        "planned_graft": donor.planned_graft,
        "planned_graft_label": donor.get_planned_graft_display(),
    }


def _abo(donor: Donor, items: dict) -> dict:
    recipient = donor.recipient if donor.recipient_id else None
    compatibility = None
    if donor.abo and recipient is not None and recipient.abo:
        try:
            compatibility = criteria.abo_compatibility(donor.abo, recipient.abo)
        except ValueError:
            compatibility = None
    return {
        "donor": donor.abo or None,
        "recipient": recipient.abo if recipient else None,
        "compatibility": compatibility,
        "check": _check(items, "abo"),
    }


def _labs(records: ws.LatestRecords, items: dict) -> dict:
    labs = records.labs
    out = {
        "recorded": labs is not None,
        "values": [],
        "serology": "",
        "apri": _check(items, "apri"),
        "fib4": _check(items, "fib4"),
    }
    if labs is None:
        return out
    rows = [
        ("AST", labs.ast, "U/L"),
        ("AST upper limit of normal", labs.ast_uln, "U/L"),
        ("ALT", labs.alt, "U/L"),
        ("ALT upper limit of normal", labs.alt_uln, "U/L"),
        ("Platelets", labs.platelets, "×10⁹/L"),
        ("Total bilirubin", labs.bilirubin_mg_dl, "mg/dL"),
        ("Albumin", labs.albumin_g_dl, "g/dL"),
        ("INR", labs.inr, ""),
        ("Creatinine", labs.creatinine_mg_dl, "mg/dL"),
    ]
    out["values"] = [{"label": label, "value": value, "unit": unit} for label, value, unit in rows]
    out["serology"] = labs.serology
    out |= _record_meta(labs)
    return out


def _steatosis(records: ws.LatestRecords, items: dict) -> dict:
    assessments = []
    for modality in STEATOSIS_PRECEDENCE:
        record = records.steatosis.get(modality)
        if record is None:
            continue
        if modality == SteatosisModality.BIOPSY:
            measure = [("macrovesicular steatosis", record.macrovesicular_pct, "%")]
        elif modality == SteatosisModality.MRI_PDFF:
            measure = [("proton density fat fraction", record.pdff_pct, "%")]
        elif modality == SteatosisModality.DUAL_ECHO:
            measure = [
                ("in-phase signal", record.in_phase_signal, ""),
                ("opposed-phase signal", record.opposed_phase_signal, ""),
                ("signal fat fraction", record.signal_fat_fraction_pct, "%"),
            ]
        else:
            measure = [
                ("liver attenuation", record.liver_hu, "HU"),
                ("spleen attenuation", record.spleen_hu, "HU"),
                ("liver attenuation index", record.liver_attenuation_index, "HU"),
            ]
        assessments.append(
            {
                "modality": modality.value,
                "label": modality.label,
                "measures": [{"label": label, "value": value, "unit": unit} for label, value, unit in measure],
                "check": _check(items, STEATOSIS_CHECK[modality]),
            }
            | _record_meta(record)
        )
    deciding = assessments[0] if assessments else None
    return {
        "assessments": assessments,
        "deciding_modality": deciding["modality"] if deciding else None,
        "deciding_label": deciding["label"] if deciding else None,
        "deciding_state": deciding["check"]["state"] if deciding else "missing",
        "basis": "the most direct measure recorded decides: biopsy, then MRI-PDFF, then dual echo, then CT; "
        "each is judged on its own scale and never converted",
    }


def _volumetry(records: ws.LatestRecords, items: dict, donor: Donor) -> dict:
    volumetry = records.volumetry
    out = {
        "recorded": volumetry is not None,
        "grwr": _check(items, "grwr"),
        "remnant": _check(items, "remnant"),
        "gv_slv": _check(items, "gv_slv"),
    }
    if volumetry is None:
        return out
    factor = volumetry.density_factor
    remnant = volumetry.remnant_volume_ml
    recipient_weight = volumetry.recipient_weight_kg
    weight_basis = "entered with the volumetry"
    if recipient_weight is None and donor.recipient is not None:
        recipient_weight, weight_basis = donor.recipient.weight_kg, "the recipient's registered weight"
    out |= {
        "total_liver_volume_ml": volumetry.total_liver_volume_ml,
        "graft_volume_ml": volumetry.graft_volume_ml,
        "graft_includes_mhv": volumetry.graft_includes_mhv,
        "remnant_volume_ml": remnant
        if remnant is not None
        else volumetry.total_liver_volume_ml - volumetry.graft_volume_ml,
        "remnant_derived": remnant is None,
        "density_factor": factor,
        "graft_weight_g": round(float(volumetry.graft_volume_ml) * float(factor), 1),
        "recipient_weight_kg": recipient_weight,
        "recipient_weight_basis": weight_basis if recipient_weight is not None else None,
        "recipient_height_cm": volumetry.recipient_height_cm,
    } | _record_meta(volumetry)
    return out


def _vascular(records: ws.LatestRecords, items: dict) -> dict:
    artery, portal, veins = records.hepatic_artery, records.portal_vein, records.hepatic_veins
    return {
        "hepatic_artery": None
        if artery is None
        else {
            "michels_type": artery.michels_type,
            "label": artery.get_michels_type_display(),
            "unclassified_description": artery.unclassified_description,
            "segment4_origin": artery.get_segment4_origin_display() if artery.segment4_origin else None,
        }
        | _record_meta(artery),
        "portal_vein": None
        if portal is None
        else {
            "scheme": portal.get_portal_scheme_display(),
            "type": portal.portal_type,
        }
        | _record_meta(portal),
        "hepatic_veins": None
        if veins is None
        else {
            "mhv_with_graft": veins.mhv_with_graft,
            "v5_mm": veins.v5_mm,
            "v8_mm": veins.v8_mm,
            "inferior_right_hv_mm": veins.inferior_right_hv_mm,
        }
        | _record_meta(veins),
        "checks": {key: _check(items, key) for key in ("hepatic_artery", "portal_vein", "hepatic_veins")},
    }


def _check(items: dict, key: str) -> dict | None:
    item = items.get(key)
    return item.as_dict() if item is not None else None


def _biliary(annotation: Annotation | None, run, result: dict | None) -> dict:
    if annotation is None:
        return {
            "recorded": False,
            "state": None,
            "final": False,
            "systems": [],
            "proposed": None,
            "diagram_svg": "",
            "rules_version": RULES_VERSION,
            "revision": None,
            "classification": None,
        }
    out = {
        "recorded": True,
        "state": annotation.state,
        "final": annotation.state == Annotation.State.FINAL,
        "revision": annotation.revision,
        "document_sha256": annotation.document_sha256,
        "study_uid": annotation.study_uid,
        "classification": annotation.classification,
        "classification_error": annotation.classification_error,
        "finalised_by": person(annotation.finalised_by),
        "finalised_at": annotation.finalised_at,
        "rules_version": run.rules_version if run is not None else RULES_VERSION,
        "run_id": run.pk if run is not None else None,
        "document": annotation.document,
        "systems": [],
        "proposed": None,
        "diagram_svg": "",
    }
    if run is not None:
        entries = {
            r.system: r.detail | {"type": r.type, "rule": r.rule, "provisional": r.provisional}
            for r in run.results.all()
        }
    elif result is not None and result["valid"]:
        entries = result["results"]
    else:
        return out
    for system, info in SYSTEMS.items():
        entry = entries.get(system)
        if entry is None:
            continue
        out["systems"].append(
            {
                "system": system,
                "label": info["label"],
                "scale": info["scale"],
                "type": entry.get("type"),
                "rule": entry.get("rule", ""),
                "provisional": bool(entry.get("provisional")),
                "unrepresented": entry.get("unrepresented") or [],
                "flags": entry.get("flags") or [],
            }
        )
    proposed = entries.get("proposed")
    if proposed is not None:
        out["proposed"] = {
            "type": proposed.get("type"),
            "exits": proposed.get("exits") or [],
            "exit_lengths": proposed.get("exit_lengths") or {},
            "graft_ducts": proposed.get("graft_ducts"),
            "flags": proposed.get("flags") or [],
        }
        try:
            out["diagram_svg"] = diagram_svg(annotation.document, proposed.get("exits") or [])
        except Exception as error:  # noqa: BLE001 - a drawing problem must not hide the report
            out["diagram_error"] = f"the diagram could not be drawn: {error}"
    return out


def _prediction(result: dict | None) -> dict | None:
    if result is None or not result["valid"]:
        return None
    prediction = result["prediction"]
    probability = prediction["probability"]
    return {
        "anastomoses": prediction["anastomoses"],
        "suitability": prediction["suitability"],
        "suitability_label": SUITABILITY.get(prediction["suitability"], prediction["suitability"]),
        "technique": prediction["technique"],
        "technique_basis": prediction.get("technique_basis", ""),
        "probability": probability["value"],
        "ci95": probability["ci95"],
        "prior_cases": probability["prior_cases"],
        "prior_matched": probability["prior_matched"],
        "local_cases": probability["local_cases"],
        "local_matched": probability["local_matched"],
        "model": probability.get("model", ""),
    }


def _biliary_item(annotation: Annotation | None, run, thresholds: criteria.Thresholds) -> ws.WorkupItem:
    """The biliary check from the annotation itself: only a final anatomy counts."""
    proposed = None
    if run is not None:
        proposed = next((r.type for r in run.results.all() if r.system == "proposed"), None)
    if annotation is not None and annotation.state == Annotation.State.FINAL and proposed:
        result = criteria.check_biliary_type(proposed, thresholds)
    else:
        missing = criteria.check_biliary_type(None, thresholds)
        if annotation is None:
            detail = "not recorded: no biliary anatomy"
        elif annotation.state != Annotation.State.FINAL:
            detail = f"not final: the anatomy (revision {annotation.revision}) is a draft"
            if proposed:
                detail += f", proposed type {proposed} so far"
        else:
            detail = "not classified yet under the current rules"
        result = dataclasses.replace(missing, detail=detail)
    return ws.build_items([result])[0]


def imported_placeholder(donor: Donor) -> bool:
    """A donor created by the outcome import: only its code, graft and outcome are known."""
    return donor.mrn == IMPORTED_MRN and donor.date_of_birth is None


def _evaluation(donor: Donor, annotation, run) -> ws.Evaluation:
    evaluation = ws.evaluate(donor)
    biliary = _biliary_item(annotation, run, evaluation.thresholds)
    items = [biliary if item.key == "biliary" else item for item in evaluation.items]
    if imported_placeholder(donor):
        # The placeholder birth date means "unknown": the age is not judged.
        unknown = dataclasses.replace(
            criteria.check_age(None, evaluation.thresholds), detail="not recorded: imported donor, age unknown"
        )
        items = [ws.build_items([unknown])[0] if item.key == "age" else item for item in items]
    if not any(item.key == "biliary" for item in items):
        items.append(biliary)
    biliary_type = biliary.value if biliary.state != "missing" else None
    return dataclasses.replace(evaluation, items=items, outstanding=ws.outstanding(items), biliary_type=biliary_type)


def _decision(donor: Donor) -> dict | None:
    decision = ws.current_decision(donor)
    if decision is None:
        return None
    signed = {s.signed_as: s for s in decision.sign_offs.all()}
    sign_offs = []
    for role in SIGNING_ROLES:
        sign_off = signed.get(role.value)
        sign_offs.append(
            {
                "role": role.value,
                "role_label": role.label,
                "signed": sign_off is not None,
                "by": person(sign_off.user) if sign_off else None,
                "at": sign_off.signed_at if sign_off else None,
                "comment": sign_off.comment if sign_off else "",
            }
        )
    field = "decision_outcome" if hasattr(decision, "decision_outcome") else "outcome"
    outcome = getattr(decision, field)
    model_field = decision._meta.get_field(field)
    labels = dict(model_field.choices or ()) if isinstance(model_field, models.Field) else {}
    return {
        "id": decision.pk,
        "outcome": outcome,
        "outcome_label": labels.get(outcome, outcome),
        "state": decision.decision_state,
        "state_label": decision.get_decision_state_display(),
        "complete": decision.decision_state == "complete",
        "reasons": decision.reasons,
        "conditions": decision.conditions,
        "override_reason": decision.override_reason,
        "overridden": decision.overridden,
        "proposed_by": person(decision.proposed_by),
        "proposed_at": decision.proposed_at,
        "completed_at": decision.completed_at,
        "sign_offs": sign_offs,
        "awaiting": [s["role_label"] for s in sign_offs if not s["signed"]],
    }


def _conclusion(decision: dict | None, counts: dict, biliary: dict, prediction: dict | None) -> dict:
    if decision is not None and decision["complete"]:
        text = (
            f"{decision['outcome_label']}: multidisciplinary decision signed by the radiologist, "
            f"the hepatologist and the surgeon."
        )
        if decision["conditions"]:
            text += f" Conditions: {decision['conditions']}"
        state = decision["outcome"]
    elif decision is not None:
        text = (
            f"Proposed: {decision['outcome_label'].lower()}, awaiting the sign-off of "
            f"{', '.join(r.lower() for r in decision['awaiting'])}."
        )
        state = "open"
    else:
        text = "No multidisciplinary decision yet."
        state = "none"
    notes = []
    if counts.get("fail"):
        notes.append(f"{counts['fail']} check(s) fail")
    if counts.get("missing"):
        notes.append(f"{counts['missing']} check(s) not recorded")
    if counts.get("borderline"):
        notes.append(f"{counts['borderline']} borderline")
    if notes:
        text += " Workup: " + ", ".join(notes) + "."
    if not biliary.get("recorded"):
        text += " No biliary anatomy is recorded."
    elif not biliary.get("final"):
        text += " The biliary anatomy is not final."
    elif prediction is not None:
        proposed = (biliary.get("proposed") or {}).get("type")
        text += (
            f" Biliary type {proposed}: {prediction['suitability_label']}; "
            f"{counted(prediction['anastomoses'], 'anastomosis', 'anastomoses')} predicted."
        )
    return {"state": state, "text": text}


# ---------------------------------------------------------------- the report


def report_content(donor: Donor, *, now: datetime.datetime | None = None) -> dict:
    """Everything the suitability report states, as JSON values. About 20 queries, always."""
    now = now or timezone.now()
    annotation = _annotation(donor)
    run = classification_selectors.current_run(annotation) if annotation is not None else None
    result = None
    if annotation is not None:
        result = classification_selectors.live_result(donor=donor, annotation=annotation)
    evaluation = _evaluation(donor, annotation, run)
    items = {item.key: item for item in evaluation.items}
    recipient = donor.recipient if donor.recipient_id else None
    biliary = _biliary(annotation, run, result)
    series = mrcp_mip_series(donor=donor, study_uid=annotation.study_uid if annotation is not None else "")
    biliary["mip"] = (
        None
        if series is None
        else {
            "series_id": series.pk,
            "study_uid": series.study.study_instance_uid,
            "study_date": series.study.study_date,
            "series_number": series.series_number,
            "description": series.description or series.protocol,
            "rendered_at": series.updated_at,
        }
    )
    prediction = _prediction(result)
    outcome = SurgicalOutcome.objects.filter(donor=donor).first()
    decision = _decision(donor)
    counts = evaluation.counts
    content = {
        "format": FORMAT,
        "generated_at": now,
        "identity": {
            "donor_id": donor.pk,
            "donor_code": donor.code,
            "centre": donor.centre.name,
            "centre_code": donor.centre.code,
            "status": donor.status,
            "status_label": Status(donor.status).label,
            "recipient": None
            if recipient is None
            else {
                "code": recipient.code,
                "age_years": recipient.age_years,
                "paediatric": recipient.paediatric,
                "weight_kg": recipient.weight_kg,
                "abo": recipient.abo,
                "diagnosis": recipient.get_diagnosis_display(),
                "own_duct_usable": recipient.own_duct_usable,
            },
        },
        "versions": {
            "report_version": None,
            "rules_version": biliary["rules_version"],
            "annotation_revision": biliary["revision"],
            "annotation_state": biliary["state"],
            "donor_version": donor.version,
            "thresholds": evaluation.thresholds_basis,
        },
        "demographics": _demographics(donor, items, evaluation.thresholds),
        "abo": _abo(donor, items),
        "labs": _labs(evaluation.records, items),
        "steatosis": _steatosis(evaluation.records, items),
        "volumetry": _volumetry(evaluation.records, items, donor),
        "vascular": _vascular(evaluation.records, items),
        "biliary": biliary,
        "prediction": prediction,
        "outcome": None
        if outcome is None
        else {
            "anastomoses": outcome.anastomoses,
            "technique": outcome.technique,
            "source": outcome.source,
            "predicted_anastomoses": outcome.predicted_anastomoses,
            "operated_on": outcome.operated_on,
        },
        "checks": [item.as_dict() for item in evaluation.items],
        "counts": counts,
        "outstanding": [{"title": o.title, "owner": o.owner, "what": o.what} for o in evaluation.outstanding],
        "thresholds": {
            "basis": evaluation.thresholds_basis,
            "values": ws.thresholds_snapshot(evaluation.thresholds),
            "sources": criteria.Thresholds.sources(),
        },
        "decision": decision,
    }
    content["conclusion"] = _conclusion(decision, counts, biliary, prediction)
    return plain(content)
