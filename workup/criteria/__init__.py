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

from .anthropometry import (  # noqa: F401
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
from .biliary import (  # noqa: F401
    check_biliary_type,
)
from .common import (  # noqa: F401
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
    validate_ranges,
)
from .evaluation import (  # noqa: F401
    WorkupInputs,
    evaluate_workup,
)
from .labs import (  # noqa: F401
    apri,
    check_apri,
    check_fib4,
    fib4,
)
from .steatosis import (  # noqa: F401
    check_biopsy_steatosis,
    check_ct_steatosis,
    check_dual_echo,
    check_pdff,
    liver_attenuation_index,
    signal_fat_fraction,
)
from .vascular import (  # noqa: F401
    check_hepatic_artery,
    check_hepatic_veins,
    check_portal_vein,
)
