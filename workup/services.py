"""Every write of the donor workup: records, the centre's thresholds and the team's decision.

One keyword-only function per action, one transaction, and the audit event written inside it.
The plausibility rules at the top are pure (dict in, field errors out) so pages, the API and the
tests share them.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.audit import Actor, record_event
from core.errors import Conflict, IllegalState, InvalidInput, NotFound, NotPermitted
from core.models import AuditEvent
from core.roles import Action, Role
from donors import validation
from donors.models import Donor
from donors.services import _as_json, _check_version, _move_status, require
from donors.workflow import Door, IllegalTransition, Status, check_transition
from imaging.selectors import refuse_while_images_unresolved

from . import criteria
from . import selectors as ws
from .models import (
    SIGNING_ROLES,
    CentreThresholds,
    Clearance,
    ClearanceKind,
    ClearanceStatus,
    Decision,
    DecisionOutcome,
    DecisionSignOff,
    DecisionState,
    HepaticArteryAnatomy,
    HepaticVeinAnatomy,
    LabResult,
    MichelsType,
    PortalScheme,
    PortalVeinAnatomy,
    Segment4Origin,
    SteatosisAssessment,
    SteatosisModality,
    Volumetry,
    WorkupRecord,
)

Errors = dict[str, list[str]]

# ---------------------------------------------------------------- plausibility (pure)

# Ranges for values criteria.PLAUSIBLE_RANGES does not cover: wide enough for any donor,
# narrow enough to catch a unit mistake (albumin in g/L, bilirubin in umol/L).
EXTRA_RANGES = {
    "alt_uln": criteria.Range(0, 500, "U/L", low_open=True),
    "bilirubin_mg_dl": criteria.Range(0, 50, "mg/dL"),
    "albumin_g_dl": criteria.Range(1, 7, "g/dL"),
    "inr": criteria.Range(0.5, 10, ""),
    "creatinine_mg_dl": criteria.Range(0.1, 20, "mg/dL"),
    "density_factor": criteria.Range(0.5, 1.5, "g/mL"),
}

# Record field -> the criteria.PLAUSIBLE_RANGES name holding its range.
CRITERIA_NAMES = {
    "ast": "ast",
    "alt": "alt",
    "ast_uln": "ast_uln",
    "platelets": "platelets",
    "total_liver_volume_ml": "total_liver_volume_ml",
    "graft_volume_ml": "graft_volume_ml",
    "remnant_volume_ml": "remnant_volume_ml",
    "recipient_weight_kg": "recipient_weight_kg",
    "recipient_height_cm": "recipient_height_cm",
    "macrovesicular_pct": "biopsy_macrovesicular_pct",
    "pdff_pct": "pdff_pct",
    "in_phase_signal": "dual_echo_in_phase",
    "opposed_phase_signal": "dual_echo_opposed_phase",
    "liver_hu": "ct_liver_hu",
    "spleen_hu": "ct_spleen_hu",
    "v5_mm": "v5_mm",
    "v8_mm": "v8_mm",
    "inferior_right_hv_mm": "inferior_right_hv_mm",
}

LAB_VALUES = (
    "ast",
    "ast_uln",
    "alt",
    "alt_uln",
    "platelets",
    "bilirubin_mg_dl",
    "albumin_g_dl",
    "inr",
    "creatinine_mg_dl",
)
# Keyed by the modality's value: the keys are str enum members, looked up with plain strings.
STEATOSIS_FIELDS: dict[str, tuple[str, ...]] = {
    SteatosisModality.BIOPSY: ("macrovesicular_pct",),
    SteatosisModality.MRI_PDFF: ("pdff_pct",),
    SteatosisModality.DUAL_ECHO: ("in_phase_signal", "opposed_phase_signal"),
    SteatosisModality.CT: ("liver_hu", "spleen_hu"),
}
# An opposed-phase signal this much above the in-phase one is a swapped or misplaced ROI, not noise.
OPPOSED_OVER_IN_PHASE_MAX = Decimal("1.1")


def _add(errors: Errors, field: str, reason: str) -> None:
    errors.setdefault(field, []).append(reason)


def _number(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _present(values: dict, name: str) -> bool:
    return values.get(name) not in (None, "")


def range_errors(values: dict, names) -> Errors:
    """Each named value outside its plausible range (criteria's table, then EXTRA_RANGES)."""
    errors: Errors = {}
    for name in names:
        if not _present(values, name):
            continue
        value = values[name]
        number = _number(value)
        if number is None:
            _add(errors, name, f"{value!r} is not a number")
            continue
        rule = EXTRA_RANGES.get(name) or criteria.PLAUSIBLE_RANGES.get(CRITERIA_NAMES.get(name, name))
        if rule is not None:
            reason = rule.reason(float(number))
            if reason:
                _add(errors, name, reason)
    return errors


def date_errors(values: dict, *, today: datetime.date | None = None) -> Errors:
    today = today or timezone.localdate()
    day = values.get("measured_on")
    if day is None:
        return {"measured_on": ["the date is required"]}
    reason = validation.past_event_date_error(day, today=today)
    return {"measured_on": [reason]} if reason else {}


def lab_errors(values: dict) -> Errors:
    errors = range_errors(values, LAB_VALUES)
    for value, limit, index in (("ast", "ast_uln", "APRI"), ("alt", "alt_uln", "the ALT ratio")):
        if _present(values, value) and not _present(values, limit):
            _add(errors, limit, f"required when {value.upper()} is given: {index} needs the laboratory's upper limit")
    if not any(_present(values, name) for name in LAB_VALUES) and not str(values.get("serology") or "").strip():
        _add(errors, "non_field_errors", "enter at least one result")
    return errors


def volumetry_errors(values: dict) -> Errors:
    names = (
        "total_liver_volume_ml",
        "graft_volume_ml",
        "remnant_volume_ml",
        "density_factor",
        "recipient_weight_kg",
        "recipient_height_cm",
    )
    errors = range_errors(values, names)
    for required in ("total_liver_volume_ml", "graft_volume_ml", "density_factor"):
        if not _present(values, required):
            _add(errors, required, "this value is required")
    total, graft, remnant = (
        None if name in errors else _number(values.get(name))
        for name in ("total_liver_volume_ml", "graft_volume_ml", "remnant_volume_ml")
    )
    if total is not None and graft is not None and graft > total:
        _add(errors, "graft_volume_ml", f"{graft} mL is larger than the total liver volume ({total} mL)")
    if total is not None and remnant is not None:
        if remnant > total:
            _add(errors, "remnant_volume_ml", f"{remnant} mL is larger than the total liver volume ({total} mL)")
        elif graft is not None and graft <= total and graft + remnant > total:
            _add(
                errors,
                "remnant_volume_ml",
                f"graft {graft} mL + remnant {remnant} mL = {graft + remnant} mL exceed the total liver volume "
                f"({total} mL)",
            )
    return errors


def steatosis_errors(values: dict) -> Errors:
    errors: Errors = {}
    modality = values.get("modality")
    if modality not in SteatosisModality.values:
        return {"modality": [f"choose one of: {', '.join(SteatosisModality.values)}"]}
    wanted = STEATOSIS_FIELDS[modality]
    for other, names in STEATOSIS_FIELDS.items():
        if other == modality:
            continue
        for name in names:
            if _present(values, name):
                _add(errors, name, f"belongs to another modality ({other}); leave it empty for {modality}")
    for name in wanted:
        if not _present(values, name):
            _add(errors, name, f"required for {SteatosisModality(modality).label}")
    errors_in_range = range_errors(values, wanted)
    for name, reasons in errors_in_range.items():
        errors.setdefault(name, []).extend(reasons)
    if modality == SteatosisModality.DUAL_ECHO and not errors:
        in_phase, opposed = _number(values["in_phase_signal"]), _number(values["opposed_phase_signal"])
        # No errors: both signals are present and numeric.
        if in_phase is not None and opposed is not None and opposed > in_phase * OPPOSED_OVER_IN_PHASE_MAX:
            _add(
                errors,
                "opposed_phase_signal",
                f"{opposed} is more than 10 % above the in-phase signal ({in_phase}): check the ROIs "
                "(in-phase and opposed-phase swapped?)",
            )
    return errors


def derived_steatosis(values: dict) -> dict:
    """The values the app computes: the dual-echo signal fat fraction and the CT attenuation index."""
    derived: dict[str, Decimal | None] = {"signal_fat_fraction_pct": None, "liver_attenuation_index": None}
    if values.get("modality") == SteatosisModality.DUAL_ECHO:
        fraction = criteria.signal_fat_fraction(float(values["in_phase_signal"]), float(values["opposed_phase_signal"]))
        derived["signal_fat_fraction_pct"] = Decimal(str(round(fraction * 100, 2)))
    if values.get("modality") == SteatosisModality.CT:
        index = criteria.liver_attenuation_index(float(values["liver_hu"]), float(values["spleen_hu"]))
        derived["liver_attenuation_index"] = Decimal(str(round(index, 1)))
    return derived


def hepatic_artery_errors(values: dict) -> Errors:
    errors: Errors = {}
    michels = values.get("michels_type")
    if michels not in MichelsType.values:
        _add(errors, "michels_type", "choose a Michels type I-X or unclassified")
    elif michels == MichelsType.UNCLASSIFIED and not str(values.get("unclassified_description") or "").strip():
        _add(errors, "unclassified_description", "describe the variant when it is unclassified")
    origin = values.get("segment4_origin") or ""
    if origin and origin not in Segment4Origin.values:
        _add(errors, "segment4_origin", f"choose one of: {', '.join(Segment4Origin.values)}")
    return errors


def portal_vein_errors(values: dict) -> Errors:
    scheme, portal_type = values.get("portal_scheme"), values.get("portal_type")
    if scheme not in PortalScheme.values:
        return {"portal_scheme": ["choose the scheme: nakamura or cheng"]}
    allowed = criteria.PORTAL_SCHEMES[scheme]
    if not portal_type:
        return {"portal_type": [f"required: a {scheme.capitalize()} type ({', '.join(allowed)})"]}
    if portal_type not in allowed:
        return {"portal_type": [f"{portal_type} is not a {scheme.capitalize()} type ({', '.join(allowed)})"]}
    return {}


def hepatic_vein_errors(values: dict) -> Errors:
    errors = range_errors(values, ("v5_mm", "v8_mm", "inferior_right_hv_mm"))
    if values.get("mhv_with_graft") not in (True, False):
        _add(errors, "mhv_with_graft", "say whether the middle hepatic vein goes with the graft")
    return errors


def clearance_errors(values: dict) -> Errors:
    errors: Errors = {}
    if values.get("clearance_kind") not in ClearanceKind.values:
        _add(errors, "clearance_kind", f"choose one of: {', '.join(ClearanceKind.values)}")
    if values.get("clearance_status") not in ClearanceStatus.values:
        _add(errors, "clearance_status", f"choose one of: {', '.join(ClearanceStatus.values)}")
    return errors


# ---------------------------------------------------------------- record kinds


@dataclass(frozen=True)
class RecordKind:
    slug: str
    model: type[WorkupRecord]
    title: str
    fields: tuple[str, ...]
    actions: tuple[Action, ...]  # any of these may record it
    check: Callable[[dict], Errors]  # values -> field errors
    noun: str  # the record's name inside a sentence: "Saved the {noun}"
    sub_field: str | None = None  # records of one kind superseding each other per this field

    @property
    def owners(self) -> str:
        roles = {r for r in Role for a in self.actions if _role_may(r, a)}
        return " or ".join(sorted(r.label.lower() for r in roles))


def _role_may(role: Role, action: Action) -> bool:
    from core.roles import may

    return may([role], action)


COMMON_FIELDS = ("measured_on", "note")
KINDS: dict[str, RecordKind] = {
    k.slug: k
    for k in (
        RecordKind(
            "labs",
            LabResult,
            "Laboratory results",
            COMMON_FIELDS + LAB_VALUES + ("serology",),
            (Action.RECORD_LABS,),
            lab_errors,
            "laboratory results",
        ),
        RecordKind(
            "volumetry",
            Volumetry,
            "CT volumetry",
            COMMON_FIELDS
            + (
                "total_liver_volume_ml",
                "graft_volume_ml",
                "graft_includes_mhv",
                "remnant_volume_ml",
                "density_factor",
                "recipient_weight_kg",
                "recipient_height_cm",
            ),
            (Action.RECORD_IMAGING_FINDINGS,),
            volumetry_errors,
            "CT volumetry",
        ),
        RecordKind(
            "steatosis",
            SteatosisAssessment,
            "Steatosis",
            COMMON_FIELDS
            + (
                "modality",
                "macrovesicular_pct",
                "pdff_pct",
                "in_phase_signal",
                "opposed_phase_signal",
                "liver_hu",
                "spleen_hu",
            ),
            (Action.RECORD_IMAGING_FINDINGS, Action.RECORD_LABS),
            steatosis_errors,
            "steatosis assessment",
            sub_field="modality",
        ),
        RecordKind(
            "hepatic-artery",
            HepaticArteryAnatomy,
            "Hepatic artery",
            COMMON_FIELDS + ("michels_type", "unclassified_description", "segment4_origin"),
            (Action.RECORD_IMAGING_FINDINGS,),
            hepatic_artery_errors,
            "hepatic artery anatomy",
        ),
        RecordKind(
            "portal-vein",
            PortalVeinAnatomy,
            "Portal vein",
            COMMON_FIELDS + ("portal_scheme", "portal_type"),
            (Action.RECORD_IMAGING_FINDINGS,),
            portal_vein_errors,
            "portal vein anatomy",
        ),
        RecordKind(
            "hepatic-veins",
            HepaticVeinAnatomy,
            "Hepatic veins",
            COMMON_FIELDS + ("mhv_with_graft", "v5_mm", "v8_mm", "inferior_right_hv_mm"),
            (Action.RECORD_IMAGING_FINDINGS,),
            hepatic_vein_errors,
            "hepatic vein anatomy",
        ),
        RecordKind(
            "clearances",
            Clearance,
            "Psychosocial and donor advocate clearance",
            COMMON_FIELDS + ("clearance_kind", "clearance_status"),
            (Action.RECORD_CLEARANCE,),
            clearance_errors,
            "clearance",
            sub_field="clearance_kind",
        ),
    )
}


# The name of a record of one sub-kind, where the kind alone does not say which it is.
SUB_KIND_NOUNS: dict[str, str] = {
    SteatosisModality.BIOPSY: "steatosis biopsy",
    SteatosisModality.MRI_PDFF: "MRI-PDFF steatosis",
    SteatosisModality.DUAL_ECHO: "dual echo MRI steatosis",
    SteatosisModality.CT: "unenhanced CT steatosis",
    ClearanceKind.PSYCHOSOCIAL: "psychosocial evaluation",
    ClearanceKind.DONOR_ADVOCATE: "donor advocate clearance",
}
SUB_KIND_TITLES: dict[str, str] = {
    **{modality: f"Steatosis: {modality.label}" for modality in SteatosisModality},
    **{clearance: clearance.label for clearance in ClearanceKind},
}


def record_noun(kind: str, sub: str | None = None) -> str:
    """A record's name inside a sentence ("Saved the CT volumetry")."""
    return SUB_KIND_NOUNS.get(sub, KINDS[kind].noun) if sub else KINDS[kind].noun


def record_title(kind: str, sub: str | None = None) -> str:
    """A record's heading on the workup page."""
    return SUB_KIND_TITLES.get(sub, KINDS[kind].title) if sub else KINDS[kind].title


def may_record(roles, kind: str, sub: str | None = None) -> bool:
    """Whether the roles may enter this kind of record (a biopsy also by the hepatologist)."""
    from core.roles import may

    if kind == "steatosis" and sub not in (None, SteatosisModality.BIOPSY):
        return may(roles, Action.RECORD_IMAGING_FINDINGS)
    return any(may(roles, action) for action in KINDS[kind].actions)


def require_record(actor: Actor, kind: str, sub: str | None = None) -> None:
    """Refuse unless the actor's roles may enter this kind of record."""
    if actor.user.centre_id is not None and may_record(actor.roles, kind, sub):
        return
    if kind == "steatosis" and sub and sub != SteatosisModality.BIOPSY and may_record(actor.roles, kind):
        raise NotPermitted("only a radiologist records imaging steatosis measurements (a biopsy also the hepatologist)")
    raise NotPermitted(
        f"your role does not allow this (record {KINDS[kind].title.lower()}; recorded by the {KINDS[kind].owners})"
    )


def record_errors(kind: str, values: dict) -> Errors:
    """All field errors of a record's values: its date, its ranges and its cross-field rules."""
    errors = date_errors(values)
    for name, reasons in KINDS[kind].check(values).items():
        errors.setdefault(name, []).extend(reasons)
    return errors


# ---------------------------------------------------------------- writing records

UNCHECKED = object()
CLOSED_STATUSES = {Status.DONATED, Status.WITHDRAWN}


def _own_donor(actor: Actor, donor: Donor) -> Donor:
    """The donor, locked for this transaction, if it is one of the actor's centre."""
    if actor.centre_id is None:
        raise NotFound(f"no donor {donor.pk} in your centre")
    locked = Donor.objects.select_for_update().filter(pk=donor.pk, centre_id=actor.centre_id).first()
    if locked is None:
        raise NotFound(f"no donor {donor.pk} in your centre")
    return locked


@transaction.atomic
def record_workup(*, actor: Actor, donor: Donor, kind: str, values: dict, supersedes=UNCHECKED):
    """Store a new record of `kind`; it supersedes the previous one of its kind, which is kept.

    `supersedes` is the id of the latest record the author saw (None when there was none); when
    given and a newer record was entered meanwhile, the write is refused as stale.
    """
    spec = KINDS[kind]
    values = {k: v for k, v in values.items() if k in spec.fields}
    sub = values.get(spec.sub_field) if spec.sub_field else None
    require_record(actor, kind, sub)
    donor = _own_donor(actor, donor)
    if donor.status in CLOSED_STATUSES:
        raise IllegalState(f"the workup of a {Status(donor.status).label.lower()} donor is closed")
    if kind == "volumetry" and not _present(values, "density_factor"):
        values["density_factor"] = Decimal(str(ws.centre_thresholds(donor.centre_id)[0].graft_density))
    errors = record_errors(kind, values)
    if errors:
        raise InvalidInput("some values are not acceptable", fields=errors)
    same_sub = {spec.sub_field: sub} if spec.sub_field and sub else {}
    previous = ws.newest(spec.model._default_manager.filter(donor=donor, **same_sub))
    if supersedes is not UNCHECKED and (previous.pk if previous else None) != supersedes:
        now = f"record {previous.pk}" if previous else "no record"
        raise Conflict(
            f"a newer {spec.title.lower()} record was entered meanwhile (you saw "
            f"{'record ' + str(supersedes) if supersedes else 'none'}, the latest is {now}); reload and check it",
            fields={"supersedes": [f"stale: the latest is {previous.pk if previous else 'none'}"]},
        )
    for name in spec.fields:
        if name in ("note", "serology", "unclassified_description", "segment4_origin") and values.get(name) is None:
            values[name] = ""
    if kind == "steatosis":
        values |= derived_steatosis(values)
    record = spec.model(donor=donor, recorded_by=actor.user, **values)
    record._history_user = actor.user
    record.save()
    changes = {k: [None, _as_json(v)] for k, v in values.items() if v not in (None, "")}
    if previous is not None:
        changes["supersedes"] = previous.pk
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=record,
        donor=donor,
        summary=f"recorded the {record_noun(kind, sub)}",
        changes=changes,
    )
    return record


# ---------------------------------------------------------------- thresholds

THRESHOLD_FIELDS = tuple(f.name for f in dataclasses.fields(criteria.Thresholds))
# Settable range of each numeric threshold; wide enough for any centre's practice.
THRESHOLD_RANGES = {
    "age_min": (16, 80),
    "age_max": (16, 80),
    "bmi_min": (10, 25),
    "bmi_max": (15, 45),
    "bmi_max_without_biopsy": (15, 45),
    "grwr_pass": (0.3, 2),
    "grwr_fail_below": (0.3, 2),
    "gv_slv_pass": (10, 100),
    "gv_slv_fail_below": (10, 100),
    "remnant_min": (10, 60),
    "remnant_margin": (0, 20),
    "graft_density": (0.5, 1.5),
    "biopsy_ideal_below": (0, 100),
    "biopsy_reject_above": (0, 100),
    "pdff_flag": (0, 100),
    "pdff_reject": (0, 100),
    "dual_echo_flag": (0, 50),
    "dual_echo_reject": (0, 50),
    "ct_lai_pass_above": (-50, 50),
    "ct_lai_fail_below": (-50, 50),
    "apri_flag_above": (0.05, 5),
    "fib4_flag": (0.1, 10),
    "vein_reconstruct_mm": (1, 15),
}
PORTAL_FLAG_CHOICES = tuple(f"{scheme}:{t}" for scheme, types in criteria.PORTAL_SCHEMES.items() for t in types)


def threshold_errors(values: dict) -> Errors:
    """Field errors of a complete set of thresholds (pure)."""
    errors: Errors = {}
    for name, (low, high) in THRESHOLD_RANGES.items():
        value = values.get(name)
        if value is None or isinstance(value, bool):
            _add(errors, name, "this value is required")
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            _add(errors, name, f"{value!r} is not a number")
            continue
        if not math.isfinite(number) or not low <= number <= high:
            _add(errors, name, f"{value} is outside the settable range {low:g} to {high:g}")
    flags = values.get("portal_vein_flag_types")
    if not isinstance(flags, (list, tuple)) or any(f not in PORTAL_FLAG_CHOICES for f in flags):
        _add(errors, "portal_vein_flag_types", f"a list of: {', '.join(PORTAL_FLAG_CHOICES)}")
    for name, allowed in (("slv_formula", ("urata", "vauthey")), ("bsa_formula", ("mosteller", "dubois"))):
        if values.get(name) not in allowed:
            _add(errors, name, f"choose {' or '.join(allowed)}")
    if not errors:
        try:
            settings: dict[str, Any] = {
                k: tuple(v) if k == "portal_vein_flag_types" else v for k, v in values.items() if k in THRESHOLD_FIELDS
            }
            criteria.Thresholds(**settings)
        except ValueError as error:
            text = str(error)
            field = text.split()[0].rstrip(":")
            _add(errors, field if field in THRESHOLD_FIELDS else "non_field_errors", text)
    return errors


def require_centre_admin(actor: Actor) -> int:
    """The actor's centre, if the actor administers it."""
    centre_id = actor.centre_id
    if centre_id is None or not actor.user.is_centre_admin:
        raise NotPermitted("only an administrator of your centre may change its thresholds")
    return centre_id


@transaction.atomic
def update_thresholds(*, actor: Actor, expected_version: int | None, values: dict) -> CentreThresholds:
    """Change the centre's thresholds (a partial set keeps the others). Version 0 means the
    defaults were never saved."""
    centre_id = require_centre_admin(actor)
    row = CentreThresholds.objects.select_for_update().filter(centre_id=centre_id).first()
    current = ws.thresholds_snapshot(ws.thresholds_from_row(row))
    if expected_version is None:
        raise InvalidInput("version is required", fields={"version": ["send the version you last read"]})
    if (row.version if row else 0) != expected_version:
        _check_version(row or CentreThresholds(version=0), expected_version)
    values = {k: (list(v) if k == "portal_vein_flag_types" else v) for k, v in values.items() if k in THRESHOLD_FIELDS}
    merged = current | {k: (float(v) if isinstance(v, Decimal) else v) for k, v in values.items()}
    errors = threshold_errors(merged)
    if errors:
        raise InvalidInput("some thresholds are not acceptable", fields=errors)
    changes = {k: [current[k], merged[k]] for k in THRESHOLD_FIELDS if current[k] != merged[k]}
    created = row is None
    if row is None:
        row = CentreThresholds(centre_id=centre_id)
    elif not changes:
        return row
    for name in THRESHOLD_FIELDS:
        setattr(row, name, merged[name])
    row.version = 1 if created else row.version + 1
    row.updated_by = actor.user
    row._history_user = actor.user
    row.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE if created else AuditEvent.Kind.UPDATE,
        record=row,
        summary="changed workup thresholds: " + (", ".join(sorted(changes)) or "saved the defaults"),
        changes=changes,
        centre_id=centre_id,
    )
    return row


# ---------------------------------------------------------------- the decision

ACCEPTING = {DecisionOutcome.SUITABLE, DecisionOutcome.SUITABLE_WITH_CONDITIONS}


def _require_in_evaluation(donor: Donor) -> None:
    if donor.status != Status.IN_EVALUATION:
        raise IllegalState(
            f"the team's decision needs the donor in evaluation; this donor is "
            f"{Status(donor.status).label.lower()} (a coordinator moves it to in evaluation first)",
            fields={"status": [f"is {donor.status}, must be in_evaluation"]},
        )


@transaction.atomic
def propose_decision(
    *,
    actor: Actor,
    donor: Donor,
    outcome: str,
    reasons: str,
    conditions: str = "",
    override_reason: str = "",
    replaces: int | None = None,
) -> Decision:
    """Record the team's proposed decision with the checks and thresholds it is based on.

    Accepting a donor whose biliary type is 3, or with a failing or missing check, needs a written
    override reason. A decision awaiting sign-offs is replaced only when `replaces` names it.
    """
    require(actor, Action.RECORD_DECISION)
    donor = _own_donor(actor, donor)
    errors: Errors = {}
    if outcome not in DecisionOutcome.values:
        _add(errors, "decision_outcome", f"choose one of: {', '.join(DecisionOutcome.values)}")
    if not (reasons or "").strip():
        _add(errors, "reasons", "give the reasons for the decision")
    if outcome == DecisionOutcome.SUITABLE_WITH_CONDITIONS and not (conditions or "").strip():
        _add(errors, "conditions", "state the conditions")
    if errors:
        raise InvalidInput("the decision is incomplete", fields=errors)
    _require_in_evaluation(donor)
    evaluation = ws.evaluate(donor)
    overridden = evaluation.override_needed(outcome)
    if overridden and not (override_reason or "").strip():
        raise InvalidInput(
            "accepting this donor overrides the checks: a written override reason is required",
            fields={"override_reason": ["required: accepting overrides " + "; ".join(overridden)]},
        )
    open_decision = Decision.objects.select_for_update().filter(donor=donor, decision_state=DecisionState.OPEN).first()
    if open_decision is not None and open_decision.pk != replaces:
        raise Conflict(
            f"decision {open_decision.pk} is awaiting sign-offs; to replace it send replaces={open_decision.pk}",
            fields={"replaces": [f"decision {open_decision.pk} is open"]},
        )
    if open_decision is None and replaces is not None:
        raise Conflict(
            f"decision {replaces} is no longer awaiting sign-offs; reload",
            fields={"replaces": ["no open decision to replace"]},
        )
    if open_decision is not None:
        open_decision.decision_state = DecisionState.SUPERSEDED
        open_decision.version += 1
        open_decision._history_user = actor.user
        open_decision.save()
    decision = Decision(
        donor=donor,
        decision_outcome=outcome,
        reasons=reasons.strip(),
        conditions=(conditions or "").strip(),
        override_reason=(override_reason or "").strip() if overridden else "",
        overridden=overridden,
        biliary_type=evaluation.biliary_type or "",
        checks_snapshot=ws.snapshot_of(evaluation.items),
        thresholds_snapshot=evaluation.thresholds_snapshot,
        proposed_by=actor.user,
    )
    decision._history_user = actor.user
    decision.save()
    changes: dict[str, Any] = {"decision_outcome": [None, outcome], "reasons": [None, decision.reasons]}
    if decision.override_reason:
        changes["override_reason"] = [None, decision.override_reason]
        changes["overridden"] = overridden
    if open_decision is not None:
        changes["replaces"] = open_decision.pk
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=decision,
        donor=donor,
        summary=f"proposed decision: {DecisionOutcome(outcome).label.lower()}"
        + (" (override)" if decision.override_reason else ""),
        changes=changes,
    )
    return decision


def signing_roles_of(actor_roles) -> list[Role]:
    return [role for role in SIGNING_ROLES if role in set(actor_roles)]


def _changed_since(decision: Decision, evaluation: ws.Evaluation) -> list[str]:
    now = evaluation.fingerprint()
    then_checks = {item["check"]: [item["state"], item["value"]] for item in decision.checks_snapshot}
    changed = [
        key for key in sorted(set(now["checks"]) | set(then_checks)) if now["checks"].get(key) != then_checks.get(key)
    ]
    if now["thresholds"] != decision.thresholds_snapshot.get("values"):
        changed.append("thresholds")
    if (now["biliary_type"] or "") != decision.biliary_type:
        changed.append("biliary type")
    return changed


def _signing_role(mine: list[Role], signed: dict[str, DecisionSignOff], role: str | None) -> str:
    """The role the actor signs in: the one asked for, or the only one of theirs not yet signed."""
    if not role:
        unsigned = [r for r in mine if r.value not in signed] if len(mine) > 1 else mine
        if len(unsigned) != 1:
            choices = ", ".join(r.value for r in mine)
            raise InvalidInput("say which role you sign in", fields={"signed_as": [f"one of: {choices}"]})
        role = unsigned[0].value
    if role not in {r.value for r in SIGNING_ROLES}:
        raise InvalidInput("not a signing role", fields={"signed_as": ["radiologist, hepatologist or surgeon"]})
    if role not in {r.value for r in mine}:
        raise NotPermitted(f"you do not hold the {role} role")
    if role in signed:
        raise Conflict(
            f"the {role}'s sign-off is already recorded (by {signed[role].user.username})",
            fields={"signed_as": ["already signed"]},
        )
    return role


@transaction.atomic
def sign_decision(
    *, actor: Actor, donor: Donor, decision_id: int, signed_as: str | None = None, comment: str = ""
) -> DecisionSignOff:
    """Sign the open decision in one of your signing roles. The last of the radiologist, the
    hepatologist and the surgeon to sign completes it and moves the donor's status."""
    require(actor, Action.RECORD_DECISION)
    mine = signing_roles_of(actor.roles)
    if not mine:
        raise NotPermitted("only a radiologist, a hepatologist or a surgeon signs the decision")
    donor = _own_donor(actor, donor)
    decision = Decision.objects.select_for_update().filter(pk=decision_id, donor=donor).first()
    if decision is None:
        raise NotFound(f"no decision {decision_id} for this donor", fields={"decision": ["no such decision"]})
    if decision.decision_state != DecisionState.OPEN:
        raise Conflict(
            f"decision {decision.pk} is {decision.get_decision_state_display().lower()}; it cannot be signed",
            fields={"decision": [f"is {decision.decision_state}"]},
        )
    signed = {s.signed_as: s for s in decision.sign_offs.select_related("user")}
    if any(s.user_id == actor.user.pk for s in signed.values()):
        raise Conflict(
            "you have already signed this decision; each role is signed by a different person",
            fields={"signed_as": ["already signed by you"]},
        )
    role = _signing_role(mine, signed, signed_as)
    refuse_while_images_unresolved(donor, cannot="sign the decision")
    evaluation = ws.evaluate(donor)
    changed = _changed_since(decision, evaluation)
    if changed:
        raise Conflict(
            "the workup changed since this decision was proposed (" + ", ".join(changed) + "); "
            "review the checklist and propose the decision again",
            fields={"decision": ["based on an outdated checklist"]},
        )
    completes = set(signed) | {role} == {r.value for r in SIGNING_ROLES}
    reason = f"multidisciplinary decision {decision.pk}: {decision.reasons}"
    if completes:
        _require_in_evaluation(donor)
        try:
            check_transition(donor.status, decision.decision_outcome, reason, door=Door.DECISION)
        except IllegalTransition as error:
            raise IllegalState(str(error), fields={"status": [str(error)]}) from None
    sign_off = DecisionSignOff(decision=decision, signed_as=role, user=actor.user, comment=(comment or "").strip())
    sign_off._history_user = actor.user
    sign_off.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=sign_off,
        donor=donor,
        summary=f"signed decision {decision.pk} as {role}" + (" (complete)" if completes else ""),
        changes={"decision": decision.pk, "signed_as": role, "decision_outcome": decision.decision_outcome},
    )
    if completes:
        change = _move_status(actor=actor, donor=donor, to_status=decision.decision_outcome, reason=reason)
        decision.decision_state = DecisionState.COMPLETE
        decision.completed_at = timezone.now()
        decision.status_change = change
        decision.version += 1
        decision._history_user = actor.user
        decision.save()
    return sign_off
