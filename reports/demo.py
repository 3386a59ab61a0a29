"""Demo data: the study's operated donors as a second centre, so the cohort page has real numbers.

The 93 transplanted donors of Durur Karakaya et al. 2024 (Table 4: type 1 30 single and 6 double,
type 2 27 single and 29 double, the type 3 emergency donor with three) are imported through the
same service as `manage.py import_outcomes` into "Study Cohort Centre". Techniques follow Table 1
(end-to-end 20, Roux-en-Y 37, double end-to-end 12, double Roux-en-Y 23, triple Roux-en-Y 1); the
paper does not give technique or graft per type, so they are spread over the types in proportion.
One demo user per clinical role works in that centre (study-coordinator, study-radiologist,
study-hepatologist, study-surgeon; the demo password).

So that the page's per-system tables are not empty, each imported donor also gets a final anatomy
annotation: an illustrative document from the presets that has the donor's proposed type and graft
(the paper does not publish the donors' anatomy; the other systems' counts are therefore only
illustrative, unlike Table 4).
"""

from __future__ import annotations

import copy
import itertools

from classification.models import Annotation, SurgicalOutcome
from classification.presets import preset_document
from core.audit import Actor
from core.roles import Role
from donors.demo import DEMO_PASSWORD, ensure_user
from donors.models import Centre, Donor
from imaging.demo import seed_phantom_series

from .services import HEADER, import_outcomes

STUDY_CENTRE_NAME = "Study Cohort Centre"
STUDY_CENTRE_CODE = "study"
CLINICAL_ROLES = (Role.COORDINATOR, Role.RADIOLOGIST, Role.HEPATOLOGIST, Role.SURGEON)

# (proposed type, anastomoses, technique, graft, how many) - sums to Table 1 and Table 4.
STUDY_GROUPS = [
    ("1", 1, "end-to-end", "right_lobe", 11),
    ("1", 1, "Roux-en-Y", "right_lobe", 7),
    ("1", 1, "Roux-en-Y", "left_lateral_segment", 12),
    ("1", 2, "double end-to-end", "right_lobe", 2),
    ("1", 2, "double Roux-en-Y", "left_lateral_segment", 4),
    ("2", 1, "end-to-end", "right_lobe", 9),
    ("2", 1, "Roux-en-Y", "right_lobe", 7),
    ("2", 1, "Roux-en-Y", "left_lateral_segment", 11),
    ("2", 2, "double end-to-end", "right_lobe", 10),
    ("2", 2, "double Roux-en-Y", "right_lobe", 9),
    ("2", 2, "double Roux-en-Y", "left_lateral_segment", 10),
    ("3", 3, "triple Roux-en-Y", "right_lobe", 1),
]


def study_cohort_csv() -> str:
    """The study's operated donors as an import file (STUDY-001 ... STUDY-093)."""
    lines = [",".join(HEADER)]
    number = 0
    for proposed_type, anastomoses, technique, graft, count in STUDY_GROUPS:
        for _ in range(count):
            number += 1
            lines.append(f"STUDY-{number:03d},{graft},{proposed_type},{anastomoses},{technique}")
    return "\n".join(lines) + "\n"


def with_rhd(mm: float) -> dict:
    document = preset_document("typical_right_lobe")
    for duct in document["ducts"]:
        if duct["id"] == "RHD":
            duct["length_mm"] = mm
    return document


def three_right_ducts() -> dict:
    """RAHD into the CHD, RPHD into the LHD and an accessory segment 6 duct: three exits."""
    document = preset_document("rphd_into_lhd")
    document["ducts"].append(
        {"id": "ACC1", "drains_into": "CHD", "segments": [6], "length_mm": 9.0, "junction_mm": 8.0}
    )
    return document


# Illustrative anatomy per (proposed type, graft), used in turn.
ANATOMY_CHOICES = {
    ("1", "right_lobe"): [with_rhd(7.0), with_rhd(12.0), preset_document("rhd_into_cystic")],
    ("1", "left_lateral_segment"): [preset_document("lls_typical_trunk")],
    ("2", "right_lobe"): [
        preset_document(name)
        for name in (
            "trifurcation",
            "rphd_into_lhd",
            "rphd_into_chd",
            "rahd_into_chd",
            "rphd_into_cystic",
            "accessory_duct",
        )
    ]
    + [with_rhd(4.0)],
    ("2", "left_lateral_segment"): [preset_document("lls_b2_separate")],
    ("3", "right_lobe"): [three_right_ducts()],
}


def _annotate_study_donors(study: Centre, radiologist) -> int:
    """A final, classified annotation for every imported donor that has none yet."""
    from classification import jobs as classification_jobs
    from classification import services as classification_services

    actor = Actor(user=radiologist, channel="command")
    cycles = {key: itertools.cycle(documents) for key, documents in ANATOMY_CHOICES.items()}
    donors = (
        Donor.objects.filter(centre=study, surgical_outcome__isnull=False, annotation__isnull=True)
        .select_related("surgical_outcome")
        .order_by("code")
    )
    made = 0
    for donor in donors:
        key = (donor.surgical_outcome.proposed_type, donor.planned_graft)
        if key not in cycles:
            continue
        document = copy.deepcopy(next(cycles[key]))
        annotation = classification_services.save_annotation(actor=actor, donor=donor, document=document)
        # Classified here and now (a queued task finds the run done and does nothing).
        classification_jobs.classify_annotation(annotation_id=annotation.pk)
        annotation = Annotation.objects.get(pk=annotation.pk)
        classification_services.finalise_annotation(
            actor=actor, annotation=annotation, expected_version=annotation.version
        )
        made += 1
    return made


def seed_study_cohort(*, centre=None, users=None) -> str:
    """Idempotent: imports the cohort once, and makes sure the study centre's demo users exist."""
    study = Centre.objects.filter(code=STUDY_CENTRE_CODE).first()
    if study is None:
        study = Centre.objects.filter(name=STUDY_CENTRE_NAME).first()
    if study is None:
        study = Centre.objects.create(name=STUDY_CENTRE_NAME, code=STUDY_CENTRE_CODE)
    imported = 0
    if not SurgicalOutcome.objects.filter(donor__centre=study).exists():
        result = import_outcomes(centre_name=study.name, text=study_cohort_csv(), source_name="the study's Table 4")
        imported = result.outcomes_created
    staff = {
        role: ensure_user(centre=study, username=f"study-{role.value}", roles=[role.value]) for role in CLINICAL_ROLES
    }
    names = [user.username for user in staff.values()]
    annotated = _annotate_study_donors(study, staff[Role.RADIOLOGIST])
    total = SurgicalOutcome.objects.filter(donor__centre=study).count()
    done = (
        f"imported {imported} outcomes, {annotated} illustrative anatomies"
        if imported or annotated
        else "already loaded"
    )
    return (
        f"Study cohort ({done}): {total} operated donors in '{study.name}'; its cohort page at /reports/cohort/ "
        f"for {', '.join(names)} (password {DEMO_PASSWORD})"
    )


# (donor code, anatomy document, seed) of the demo centre's phantom MRCP series.
def demo_series() -> list[tuple[str, dict, int]]:
    return [
        ("DEMO-001", preset_document("typical_right_lobe"), 1),
        ("DEMO-002", preset_document("trifurcation"), 2),
        ("DEMO-003", three_right_ducts(), 3),
        ("DEMO-004", preset_document("rphd_into_chd"), 4),
    ]


# DEMO-004's study arrives with another person's name and ID in its files: its identity waits for a
# radiologist to confirm or detach it.
MISMATCHED_STUDY = {"DEMO-004": ("MRN900417", "Korkmaz^Sevgi")}


def seed_imaging(*, centre, users) -> str:
    """Phantom MRCP series drawn from the anatomy presets, imported through the upload service."""
    return seed_phantom_series(centre=centre, users=users, series=demo_series(), named_otherwise=MISMATCHED_STUDY)
