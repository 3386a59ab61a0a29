"""Vascular anatomy: hepatic veins needing reconstruction, portal vein type, hepatic artery."""

from __future__ import annotations

from .common import (
    A4_ORIGINS,
    DEFAULT_THRESHOLDS,
    GRAFTS,
    LEFT_GRAFTS,
    MICHELS_TYPES,
    PORTAL_SCHEMES,
    SOURCES,
    CheckResult,
    State,
    Thresholds,
    _fmt,
    _missing,
    _near,
)


def check_hepatic_veins(
    v5_mm: float | None,
    v8_mm: float | None,
    inferior_right_mm: float | None,
    mhv_with_graft: bool | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> CheckResult:
    """Veins at or above the limit need reconstruction: borderline with the list.

    Record 0 for a vein that is absent; an unrecorded vein keeps the check
    "missing" unless another one already needs reconstruction.
    """
    t = thresholds
    threshold = f"reconstruct if >= {_fmt(t.vein_reconstruct_mm)} mm"
    veins = {"V5": v5_mm, "V8": v8_mm, "inferior right hepatic vein": inferior_right_mm}
    large = [
        f"{name} {_fmt(mm)} mm" for name, mm in veins.items() if mm is not None and _near(mm) >= t.vein_reconstruct_mm
    ]
    unrecorded = [name for name, mm in veins.items() if mm is None]
    mhv = {True: "; MHV with the graft", False: "; MHV stays with the donor", None: ""}[mhv_with_graft]
    recorded = [mm for mm in veins.values() if mm is not None]
    if large:
        return CheckResult(
            "hepatic_veins",
            "borderline",
            float(max(recorded)),  # a vein needing reconstruction is recorded
            "mm",
            threshold,
            SOURCES["hepatic_veins"],
            "reconstruct " + ", ".join(large) + mhv,
        )
    if unrecorded:
        return _missing("hepatic_veins", "mm", threshold, ", ".join(unrecorded))
    return CheckResult(
        "hepatic_veins",
        "pass",
        float(max(recorded)),  # every vein is recorded here
        "mm",
        threshold,
        SOURCES["hepatic_veins"],
        f"no vein >= {_fmt(t.vein_reconstruct_mm)} mm" + mhv,
    )


def check_portal_vein(
    scheme: str | None, portal_type: str | None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> CheckResult:
    """A flagged type is borderline, "a common reason to reject"; the team decides."""
    flagged = ", ".join(thresholds.portal_vein_flag_types) or "none"
    threshold = f"flagged types: {flagged}"
    if scheme is None or portal_type is None:
        return _missing("portal_vein", "", threshold, "portal vein scheme and type")
    scheme = scheme.strip().lower()
    if scheme not in PORTAL_SCHEMES:
        raise ValueError(f"unknown portal vein scheme {scheme!r}")
    portal_type = portal_type.strip().upper()
    if portal_type not in PORTAL_SCHEMES[scheme]:
        raise ValueError(f"unknown {scheme} portal vein type {portal_type!r}")
    label = f"{scheme.capitalize()} {portal_type}"
    state: State
    if f"{scheme}:{portal_type}" in thresholds.portal_vein_flag_types:
        state, detail = "borderline", f"{label}: a common reason to reject"
    else:
        state, detail = "pass", f"{label} recorded"
    return CheckResult("portal_vein", state, label, "", threshold, SOURCES["portal_vein"], detail)


def check_hepatic_artery(
    michels_type: str | None,
    graft: str | None = None,
    segment4_origin: str | None = None,
    note: str = "",
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> CheckResult:
    """Recorded anatomy passes; a left graft also needs the segment 4 artery origin."""
    threshold = "Michels type recorded; segment 4 artery origin for a left graft"
    if michels_type is None:
        return _missing("hepatic_artery", "", threshold, "Michels type")
    michels_type = michels_type.strip()
    if michels_type.upper() in MICHELS_TYPES:
        michels_type = michels_type.upper()
    if michels_type not in MICHELS_TYPES:
        raise ValueError(f"unknown Michels type {michels_type!r}")
    if graft is not None and graft not in GRAFTS:
        raise ValueError(f"unknown graft {graft!r}")
    if segment4_origin is not None and segment4_origin not in A4_ORIGINS:
        raise ValueError(f"unknown segment 4 artery origin {segment4_origin!r}")
    label = "unclassified" if michels_type == "unclassified" else f"Michels {michels_type}"
    detail = label + (f" ({note.strip()})" if note.strip() else "")
    state: State = "pass"
    if graft in LEFT_GRAFTS:
        if segment4_origin is None:
            state, detail = "borderline", detail + "; segment 4 artery origin not recorded (left graft)"
        else:
            detail += f"; segment 4 artery from the {segment4_origin.replace('_', ' ')} artery"
            if graft == "left_lobe" and segment4_origin == "right_hepatic":
                state, detail = "borderline", detail + ": separate reconstruction for the graft"
    return CheckResult("hepatic_artery", state, label, "", threshold, SOURCES["hepatic_artery"], detail)
