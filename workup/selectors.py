"""Reads for the donor workup: the latest record of each kind, the centre's thresholds and the
evaluated checklist built from them with `criteria.evaluate_workup`.

Callers pass a donor already fetched through `selectors.donor_for`, which scopes it to the
actor's centre and checks the role.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from classification.selectors import final_proposed_type
from core.roles import Role

from . import criteria
from .models import (
    CentreThresholds,
    Clearance,
    ClearanceKind,
    ClearanceStatus,
    Decision,
    DecisionState,
    HepaticArteryAnatomy,
    HepaticVeinAnatomy,
    LabResult,
    PortalVeinAnatomy,
    SteatosisAssessment,
    SteatosisModality,
    Volumetry,
)

STEATOSIS_CHECKS = ("steatosis_biopsy", "steatosis_pdff", "steatosis_dual_echo", "steatosis_ct")

# Check -> (title, the roles that record its inputs). Age, BMI and ABO come from the donor's and the
# recipient's registration (coordinator); the rest from the workup records.
CHECK_INFO: dict[str, tuple[str, tuple[Role, ...]]] = {
    "age": ("Donor age", (Role.COORDINATOR,)),
    "bmi": ("Body mass index", (Role.COORDINATOR,)),
    "abo": ("ABO compatibility", (Role.COORDINATOR,)),
    "grwr": ("Graft-to-recipient weight ratio", (Role.RADIOLOGIST,)),
    "gv_slv": ("Graft volume / recipient standard liver volume", (Role.RADIOLOGIST,)),
    "remnant": ("Remnant liver volume", (Role.RADIOLOGIST,)),
    "steatosis_biopsy": ("Steatosis: biopsy", (Role.HEPATOLOGIST, Role.RADIOLOGIST)),
    "steatosis_pdff": ("Steatosis: MRI-PDFF", (Role.RADIOLOGIST,)),
    "steatosis_dual_echo": ("Steatosis: dual echo", (Role.RADIOLOGIST,)),
    "steatosis_ct": ("Steatosis: unenhanced CT", (Role.RADIOLOGIST,)),
    "apri": ("APRI", (Role.HEPATOLOGIST,)),
    "fib4": ("FIB-4", (Role.HEPATOLOGIST,)),
    "hepatic_veins": ("Hepatic veins", (Role.RADIOLOGIST,)),
    "portal_vein": ("Portal vein", (Role.RADIOLOGIST,)),
    "hepatic_artery": ("Hepatic artery", (Role.RADIOLOGIST,)),
    "biliary": ("Biliary anatomy (proposed type)", (Role.RADIOLOGIST,)),
    "psychosocial": ("Psychosocial evaluation", (Role.COORDINATOR,)),
    "donor_advocate": ("Living donor advocate", (Role.COORDINATOR,)),
}

CLEARANCE_SOURCE = "status only; the evaluation is kept outside this app"


@dataclass(frozen=True)
class WorkupItem:
    """One line of the checklist: a criteria check (or a clearance) with its title and owner."""

    key: str
    title: str
    state: str
    value: Any
    unit: str
    threshold: str
    source: str
    detail: str
    owners: tuple[Role, ...]
    optional: bool = False  # a steatosis modality not needed because another one is recorded

    @property
    def owner_label(self) -> str:
        return " or ".join(role.label.lower() for role in self.owners)

    @property
    def one_of_alternatives(self) -> bool:
        """A steatosis modality while none is recorded: any one of them is enough."""
        return self.key in STEATOSIS_CHECKS and self.state == "missing" and not self.optional

    def as_dict(self) -> dict:
        return {
            "check": self.key,
            "title": self.title,
            "state": self.state,
            "value": self.value,
            "unit": self.unit,
            "threshold": self.threshold,
            "source": self.source,
            "detail": self.detail,
            "owner": self.owner_label,
            "optional": self.optional,
        }


@dataclass(frozen=True)
class Outstanding:
    """Something the workup still needs, and who provides it."""

    title: str
    owner: str
    what: str


# ---------------------------------------------------------------- pure rules


def check_clearance(kind: str, status: str | None) -> criteria.CheckResult:
    """Cleared passes, not cleared fails, pending or unrecorded is missing."""
    threshold = "cleared"
    if status is None:
        return criteria.CheckResult(kind, "missing", None, "", threshold, CLEARANCE_SOURCE, "not recorded")
    if status == ClearanceStatus.CLEARED:
        return criteria.CheckResult(kind, "pass", status, "", threshold, CLEARANCE_SOURCE, "cleared")
    if status == ClearanceStatus.NOT_CLEARED:
        return criteria.CheckResult(kind, "fail", status, "", threshold, CLEARANCE_SOURCE, "not cleared")
    return criteria.CheckResult(kind, "missing", status, "", threshold, CLEARANCE_SOURCE, "pending")


def build_items(results: list[criteria.CheckResult]) -> list[WorkupItem]:
    """Title and owner for each result; unrecorded steatosis modalities become optional once any
    modality has a result (the team picks the modality that decides)."""
    any_steatosis = any(r.check in STEATOSIS_CHECKS and r.state != "missing" for r in results)
    items = []
    for r in results:
        title, owners = CHECK_INFO.get(r.check, (r.check.replace("_", " ").capitalize(), ()))
        optional = any_steatosis and r.check in STEATOSIS_CHECKS and r.state == "missing"
        items.append(
            WorkupItem(r.check, title, r.state, r.value, r.unit, r.threshold, r.source, r.detail, owners, optional)
        )
    return items


def outstanding(items: list[WorkupItem]) -> list[Outstanding]:
    """The missing checks that the workup needs, each once, steatosis as one item."""
    needed: list[Outstanding] = []
    steatosis_missing = [i for i in items if i.key in STEATOSIS_CHECKS and i.state == "missing" and not i.optional]
    for item in items:
        if item.state != "missing" or item.optional or item.key in STEATOSIS_CHECKS:
            continue
        needed.append(Outstanding(item.title, item.owner_label, item.detail))
    if steatosis_missing and len(steatosis_missing) == len([i for i in items if i.key in STEATOSIS_CHECKS]):
        needed.append(
            Outstanding(
                "Steatosis (any one modality)",
                "radiologist (biopsy: hepatologist or radiologist)",
                "not recorded: biopsy, MRI-PDFF, dual echo or unenhanced CT",
            )
        )
    return needed


def override_needed(items: list[WorkupItem], biliary_type: str | None, outcome: str) -> list[str]:
    """What an acceptance overrides: biliary type 3, every failing check and every check still
    missing. Empty for "not suitable" and for a complete, passing workup."""
    if outcome not in ("suitable", "suitable_with_conditions"):
        return []
    reasons = []
    if biliary_type == "3":
        reasons.append("biliary type 3 (not suitable by the study's rule)")
    for item in items:
        if item.key == "biliary" and biliary_type == "3":
            continue
        if item.state == "fail":
            shown = f" ({item.value}{' ' + item.unit if item.unit else ''})" if item.value is not None else ""
            reasons.append(f"{item.title} fails{shown}")
    for need in outstanding(items):
        reasons.append(f"{need.title} is missing")
    return reasons


def snapshot_of(items: list[WorkupItem]) -> list[dict]:
    return [item.as_dict() for item in items]


def thresholds_snapshot(thresholds: criteria.Thresholds) -> dict:
    values = dataclasses.asdict(thresholds)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def thresholds_from_row(row: CentreThresholds | None) -> criteria.Thresholds:
    if row is None:
        return criteria.DEFAULT_THRESHOLDS
    values: dict[str, Any] = {}
    for f in dataclasses.fields(criteria.Thresholds):
        value = getattr(row, f.name)
        values[f.name] = tuple(value) if f.name == "portal_vein_flag_types" else value
    return criteria.Thresholds(**values)


# ---------------------------------------------------------------- reads


def thresholds_row(centre_id) -> CentreThresholds | None:
    return CentreThresholds.objects.filter(centre_id=centre_id).select_related("updated_by").first()


def centre_thresholds(centre_id) -> tuple[criteria.Thresholds, CentreThresholds | None]:
    row = thresholds_row(centre_id)
    return thresholds_from_row(row), row


def newest(queryset):
    return _newest_first(queryset).first()


@dataclass
class LatestRecords:
    labs: LabResult | None = None
    volumetry: Volumetry | None = None
    steatosis: dict[str, SteatosisAssessment] = field(default_factory=dict)
    hepatic_artery: HepaticArteryAnatomy | None = None
    portal_vein: PortalVeinAnatomy | None = None
    hepatic_veins: HepaticVeinAnatomy | None = None
    clearances: dict[str, Clearance] = field(default_factory=dict)

    def latest_of(self, kind: str, sub: str | None = None):
        if kind == "steatosis":
            return self.steatosis.get(sub) if sub is not None else None
        if kind == "clearances":
            return self.clearances.get(sub) if sub is not None else None
        return getattr(self, kind.replace("-", "_"))


def latest_records(donor) -> LatestRecords:
    records = LatestRecords(
        labs=newest(LabResult.objects.filter(donor=donor)),
        volumetry=newest(Volumetry.objects.filter(donor=donor)),
        hepatic_artery=newest(HepaticArteryAnatomy.objects.filter(donor=donor)),
        portal_vein=newest(PortalVeinAnatomy.objects.filter(donor=donor)),
        hepatic_veins=newest(HepaticVeinAnatomy.objects.filter(donor=donor)),
    )
    # One query per record kind: the newest record of each modality (or clearance kind) wins.
    for assessment in _newest_first(SteatosisAssessment.objects.filter(donor=donor)):
        records.steatosis.setdefault(assessment.modality, assessment)
    for clearance in _newest_first(Clearance.objects.filter(donor=donor)):
        records.clearances.setdefault(clearance.clearance_kind, clearance)
    return records


def _newest_first(queryset):
    return queryset.select_related("recorded_by").order_by("-recorded_at", "-pk")


def biliary_type_for(donor) -> str | None:
    """The donor's proposed biliary type ("1", "2" or "3"), or None when it is not known.

    The classification app answers from the donor's final anatomy; without one the answer is None
    and the biliary check stays "missing".
    """
    answer = final_proposed_type(donor)
    if answer is not None and str(answer).strip():
        return str(answer).strip()
    return None


def _float(value: Decimal | float | None) -> float | None:
    """A model's decimal as the float the criteria compute with (None stays None)."""
    return None if value is None else float(value)


def workup_inputs(donor, records: LatestRecords, biliary_type: str | None) -> criteria.WorkupInputs:
    recipient = donor.recipient if donor.recipient_id else None
    volumetry, labs = records.volumetry, records.labs
    steatosis = records.steatosis
    biopsy = steatosis.get(SteatosisModality.BIOPSY)
    pdff = steatosis.get(SteatosisModality.MRI_PDFF)
    dual = steatosis.get(SteatosisModality.DUAL_ECHO)
    ct = steatosis.get(SteatosisModality.CT)
    artery, portal, veins = records.hepatic_artery, records.portal_vein, records.hepatic_veins
    recipient_weight = None
    if volumetry is not None and volumetry.recipient_weight_kg is not None:
        recipient_weight = volumetry.recipient_weight_kg
    elif recipient is not None:
        recipient_weight = recipient.weight_kg
    return criteria.WorkupInputs(
        donor_age=donor.age_years if donor.date_of_birth else None,
        donor_sex=donor.sex or None,
        donor_height_cm=donor.height_cm,
        donor_weight_kg=donor.weight_kg,
        donor_abo=donor.abo or None,
        recipient_abo=recipient.abo if recipient else None,
        recipient_height_cm=_float(volumetry.recipient_height_cm) if volumetry else None,
        recipient_weight_kg=_float(recipient_weight),
        ast=_float(labs.ast) if labs else None,
        alt=_float(labs.alt) if labs else None,
        ast_uln=_float(labs.ast_uln) if labs else None,
        platelets=_float(labs.platelets) if labs else None,
        graft=donor.planned_graft or None,
        total_liver_volume_ml=_float(volumetry.total_liver_volume_ml) if volumetry else None,
        graft_volume_ml=_float(volumetry.graft_volume_ml) if volumetry else None,
        remnant_volume_ml=_float(volumetry.remnant_volume_ml) if volumetry else None,
        biopsy_done=True if biopsy is not None else None,
        biopsy_macrovesicular_pct=_float(biopsy.macrovesicular_pct) if biopsy else None,
        pdff_pct=_float(pdff.pdff_pct) if pdff else None,
        dual_echo_in_phase=_float(dual.in_phase_signal) if dual else None,
        dual_echo_opposed_phase=_float(dual.opposed_phase_signal) if dual else None,
        ct_liver_hu=_float(ct.liver_hu) if ct else None,
        ct_spleen_hu=_float(ct.spleen_hu) if ct else None,
        hepatic_artery_michels=artery.michels_type if artery else None,
        hepatic_artery_note=artery.unclassified_description if artery else "",
        segment4_artery_origin=(artery.segment4_origin or None) if artery else None,
        portal_vein_scheme=portal.portal_scheme if portal else None,
        portal_vein_type=portal.portal_type if portal else None,
        mhv_with_graft=veins.mhv_with_graft if veins else None,
        v5_mm=_float(veins.v5_mm) if veins else None,
        v8_mm=_float(veins.v8_mm) if veins else None,
        inferior_right_hv_mm=_float(veins.inferior_right_hv_mm) if veins else None,
        biliary_type=biliary_type,
    )


@dataclass
class Evaluation:
    items: list[WorkupItem]
    outstanding: list[Outstanding]
    thresholds: criteria.Thresholds
    thresholds_basis: str
    records: LatestRecords
    biliary_type: str | None

    @property
    def counts(self) -> dict[str, int]:
        """Checks per state, each row of the checklist once. "missing" is the length of the
        `outstanding` list it stands beside: while no steatosis modality is recorded, one of them
        is missing and the others are not needed."""
        counts = {"pass": 0, "borderline": 0, "fail": 0, "missing": 0, "not_needed": 0}
        for item in self.items:
            counts["not_needed" if item.optional else item.state] += 1
        counts["not_needed"] += counts["missing"] - len(self.outstanding)
        counts["missing"] = len(self.outstanding)
        return counts

    @property
    def failing(self) -> list[WorkupItem]:
        return [item for item in self.items if item.state == "fail"]

    @property
    def thresholds_snapshot(self) -> dict:
        return {"basis": self.thresholds_basis, "values": thresholds_snapshot(self.thresholds)}

    def fingerprint(self) -> dict:
        """What a decision is based on: every check's state and value, the thresholds, the type."""
        return {
            "checks": {i.key: [i.state, i.value] for i in self.items},
            "thresholds": thresholds_snapshot(self.thresholds),
            "biliary_type": self.biliary_type,
        }

    def override_needed(self, outcome: str) -> list[str]:
        return override_needed(self.items, self.biliary_type, outcome)


def evaluate(donor) -> Evaluation:
    """The checklist for the donor from its latest records, against its centre's thresholds.

    The GRWR uses the density factor stored with the latest volumetry (the factor the radiologist
    used); without a volumetry the centre's default factor is shown.
    """
    thresholds, row = centre_thresholds(donor.centre_id)
    basis = f"centre settings, version {row.version}" if row else "defaults of the workup document"
    records = latest_records(donor)
    if records.volumetry is not None:
        density = float(records.volumetry.density_factor)
        if density != thresholds.graft_density:
            thresholds = dataclasses.replace(thresholds, graft_density=density)
            basis += f"; density factor {density:g} from the volumetry of {records.volumetry.measured_on:%Y-%m-%d}"
    biliary_type = biliary_type_for(donor)
    results = criteria.evaluate_workup(workup_inputs(donor, records, biliary_type), thresholds)
    for kind in ClearanceKind.values:
        record = records.clearances.get(kind)
        results.append(check_clearance(kind, record.clearance_status if record else None))
    items = build_items(results)
    return Evaluation(items, outstanding(items), thresholds, basis, records, biliary_type)


# ---------------------------------------------------------------- decisions


def decisions_for(donor):
    return (
        Decision.objects.filter(donor=donor)
        .select_related("proposed_by")
        .prefetch_related("sign_offs__user")
        .order_by("-proposed_at", "-pk")
    )


def current_decision(donor) -> Decision | None:
    """The latest proposal that was not replaced (open or complete)."""
    return decisions_for(donor).exclude(decision_state=DecisionState.SUPERSEDED).first()
