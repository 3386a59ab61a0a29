"""The whole workup: every check over one set of recorded values, in report order."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from .anthropometry import check_abo, check_age, check_bmi, check_grwr, check_gv_slv, check_remnant
from .biliary import check_biliary_type
from .common import DEFAULT_THRESHOLDS, CheckResult, Thresholds
from .labs import check_apri, check_fib4
from .steatosis import check_biopsy_steatosis, check_ct_steatosis, check_dual_echo, check_pdff
from .vascular import check_hepatic_artery, check_hepatic_veins, check_portal_vein


@dataclass(frozen=True)
class WorkupInputs:
    """Plain recorded values; None means not recorded. Units are in the names."""

    donor_age: float | None = None
    donor_sex: str | None = None
    donor_height_cm: float | None = None
    donor_weight_kg: float | None = None
    donor_abo: str | None = None
    recipient_abo: str | None = None
    recipient_height_cm: float | None = None
    recipient_weight_kg: float | None = None
    abo_desensitisation_plan: bool | None = None
    ast: float | None = None  # U/L
    alt: float | None = None  # U/L
    ast_uln: float | None = None  # U/L, the laboratory's upper limit
    platelets: float | None = None  # 10^9/L
    graft: str | None = None
    total_liver_volume_ml: float | None = None
    graft_volume_ml: float | None = None
    remnant_volume_ml: float | None = None
    biopsy_done: bool | None = None
    biopsy_macrovesicular_pct: float | None = None
    pdff_pct: float | None = None
    dual_echo_in_phase: float | None = None
    dual_echo_opposed_phase: float | None = None
    ct_liver_hu: float | None = None
    ct_spleen_hu: float | None = None
    hepatic_artery_michels: str | None = None
    hepatic_artery_note: str = ""
    segment4_artery_origin: str | None = None
    portal_vein_scheme: str | None = None
    portal_vein_type: str | None = None
    mhv_with_graft: bool | None = None
    v5_mm: float | None = None
    v8_mm: float | None = None
    inferior_right_hv_mm: float | None = None
    biliary_type: str | None = None

    def __post_init__(self) -> None:
        # Model fields arrive as Decimal; the formulas mix them with float constants.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                object.__setattr__(self, f.name, float(value))


def evaluate_workup(inputs: WorkupInputs, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[CheckResult]:
    """Every check in report order; the team picks which steatosis modality decides."""
    i, t = inputs, thresholds
    return [
        check_age(i.donor_age, t),
        check_bmi(i.donor_weight_kg, i.donor_height_cm, i.biopsy_done, t),
        check_abo(i.donor_abo, i.recipient_abo, i.abo_desensitisation_plan, t),
        check_grwr(i.graft_volume_ml, i.recipient_weight_kg, t),
        check_gv_slv(i.graft_volume_ml, i.recipient_height_cm, i.recipient_weight_kg, t),
        check_remnant(i.remnant_volume_ml, i.total_liver_volume_ml, i.graft_volume_ml, t),
        check_biopsy_steatosis(i.biopsy_macrovesicular_pct, t),
        check_pdff(i.pdff_pct, t),
        check_dual_echo(i.dual_echo_in_phase, i.dual_echo_opposed_phase, t),
        check_ct_steatosis(i.ct_liver_hu, i.ct_spleen_hu, t),
        check_apri(i.ast, i.ast_uln, i.platelets, t),
        check_fib4(i.donor_age, i.ast, i.alt, i.platelets, t),
        check_hepatic_veins(i.v5_mm, i.v8_mm, i.inferior_right_hv_mm, i.mhv_with_graft, t),
        check_portal_vein(i.portal_vein_scheme, i.portal_vein_type, t),
        check_hepatic_artery(i.hepatic_artery_michels, i.graft, i.segment4_artery_origin, i.hepatic_artery_note, t),
        check_biliary_type(i.biliary_type, t),
    ]
