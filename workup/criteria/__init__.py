"""Donor workup checks as pure functions over plain values.

Every check answers pass / borderline / fail / missing against a per-centre
threshold and says where that threshold comes from (docs/spec/donor-workup.md),
so a suitability report can state exactly which rules it applied.  A check whose
inputs are absent is "missing", never "pass": an unrecorded value must not look
like a good one.  Steatosis measures are kept on their own scales: a PDFF, a
dual-echo signal fat fraction, a CT attenuation index and a biopsy percentage
are each judged by their own thresholds and never converted into one another.

Threshold choices not fixed by the workup document:
- GV/SLV (graft volume over the recipient's standard liver volume): pass >= 40 %,
  borderline 35-40 %, fail < 35 %, a common default to be set per centre.
- Remnant: fail below the minimum (30 %); borderline within a margin above it
  (default 5 points, i.e. 30-35 %, the value some centres require); pass above.
- Portal vein Nakamura D/E: borderline ("a common reason to reject"), not fail;
  the team decides.
- Hepatic artery: pass once a Michels type is recorded; for a left graft a
  missing segment 4 artery origin, or one from the right hepatic artery for a
  left lobe graft, is borderline.
"""

from __future__ import annotations

from .anthropometry import (
    abo_compatibility,
    bmi,
    body_surface_area,
    bsa_dubois,
    bsa_mosteller,
    check_abo,
    check_age,
    check_bmi,
    check_grwr,
    check_gv_slv,
    check_remnant,
    graft_weight_g,
    grwr_percent,
    remnant_percent,
    standard_liver_volume,
)
from .biliary import (
    check_biliary_type,
)
from .common import (
    A4_ORIGINS,
    ABO_GROUPS,
    DEFAULT_THRESHOLDS,
    GRAFTS,
    LEFT_GRAFTS,
    MICHELS_TYPES,
    PLAUSIBLE_RANGES,
    PORTAL_SCHEMES,
    SOURCES,
    CheckResult,
    Range,
    State,
    Thresholds,
    Value,
    threshold_label,
    validate_ranges,
)
from .evaluation import (
    WorkupInputs,
    evaluate_workup,
)
from .labs import (
    apri,
    check_apri,
    check_fib4,
    fib4,
)
from .steatosis import (
    check_biopsy_steatosis,
    check_ct_steatosis,
    check_dual_echo,
    check_pdff,
    liver_attenuation_index,
    signal_fat_fraction,
)
from .vascular import (
    check_hepatic_artery,
    check_hepatic_veins,
    check_portal_vein,
)

__all__ = [
    "A4_ORIGINS",
    "ABO_GROUPS",
    "CheckResult",
    "DEFAULT_THRESHOLDS",
    "GRAFTS",
    "LEFT_GRAFTS",
    "MICHELS_TYPES",
    "PLAUSIBLE_RANGES",
    "PORTAL_SCHEMES",
    "Range",
    "SOURCES",
    "State",
    "Thresholds",
    "Value",
    "threshold_label",
    "WorkupInputs",
    "abo_compatibility",
    "apri",
    "bmi",
    "body_surface_area",
    "bsa_dubois",
    "bsa_mosteller",
    "check_abo",
    "check_age",
    "check_apri",
    "check_biliary_type",
    "check_biopsy_steatosis",
    "check_bmi",
    "check_ct_steatosis",
    "check_dual_echo",
    "check_fib4",
    "check_grwr",
    "check_gv_slv",
    "check_hepatic_artery",
    "check_hepatic_veins",
    "check_pdff",
    "check_portal_vein",
    "check_remnant",
    "evaluate_workup",
    "fib4",
    "graft_weight_g",
    "grwr_percent",
    "liver_attenuation_index",
    "remnant_percent",
    "signal_fat_fraction",
    "standard_liver_volume",
    "validate_ranges",
]
