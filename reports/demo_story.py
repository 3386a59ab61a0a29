"""Demo data: the demo centre's donors at every stage of the workup.

Everything is made through the services the pages use (status changes, workup records, the
anatomy and its classification, the team's decision and sign-offs, the operation, the report and
its PDF), so every status is reached through its own door and every write is audited. Idempotent:
each donor is known by its code, and a step already done is skipped. Values are plausible for a
healthy living donor (labs in range, past dates); only the story's declined donor has a failing check
(its type 3 biliary anatomy).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from classification import jobs as classification_jobs
from classification import services as classification_services
from classification.models import Annotation, SurgicalOutcome
from classification.presets import preset_document
from classification.selectors import current_run
from core.audit import Actor
from core.errors import DomainError, IllegalState
from donors.models import Donor, Recipient, User
from donors.services import transition_donor
from donors.workflow import SIGNING_ROLES, Status
from imaging.models import Study
from workup import services as workup_services
from workup.models import Decision, DecisionState

from . import jobs as report_jobs
from . import services as report_services
from .demo import three_right_ducts, with_rhd
from .models import ReportVersion

# Who enters each kind of workup record (as on the workup page).
RECORD_AUTHOR = {"labs": "hepatologist", "clearances": "coordinator"}
SEROLOGY = "HBsAg, anti-HBc, anti-HCV and HIV negative"


@dataclass
class Story:
    """The demo centre's staff and the day the demo is seeded."""

    users: dict[str, User]
    today: datetime.date

    def actor(self, role: str) -> Actor:
        return Actor(user=self.users[role], channel="command")

    def days_ago(self, days: int) -> datetime.date:
        return self.today - datetime.timedelta(days=days)


# ---------------------------------------------------------------- plausible values, per donor


def _rng(donor: Donor) -> random.Random:
    """The same values for the same donor on every run."""
    return random.Random(f"demo-workup-{donor.code}")


def _recipient(donor: Donor) -> Recipient:
    assert donor.recipient is not None, "every demo donor has its recipient"
    return donor.recipient


def _recipient_height_cm(donor: Donor, rng: random.Random) -> int:
    recipient = _recipient(donor)
    weight = float(recipient.weight_kg)
    if recipient.age_years < 18:
        return round(60 + 2.7 * weight)  # a child's height roughly follows its weight
    return rng.randint(158, 184)


def lab_values(donor: Donor, measured_on: datetime.date) -> dict:
    rng = _rng(donor)
    return {
        "measured_on": measured_on,
        "ast": Decimal(rng.randint(16, 24)),
        "ast_uln": Decimal(40),
        "alt": Decimal(rng.randint(18, 34)),
        "alt_uln": Decimal(41),
        "platelets": Decimal(rng.randint(240, 320)),
        "bilirubin_mg_dl": Decimal(str(round(rng.uniform(0.4, 1.0), 1))),
        "albumin_g_dl": Decimal(str(round(rng.uniform(4.0, 4.8), 1))),
        "inr": Decimal(str(round(rng.uniform(0.95, 1.1), 2))),
        "creatinine_mg_dl": Decimal(str(round(rng.uniform(0.6, 1.0), 1))),
        "serology": SEROLOGY,
    }


def volumetry_values(donor: Donor, measured_on: datetime.date) -> dict:
    """Graft and remnant volumes that pass for this donor's graft and recipient."""
    rng = _rng(donor)
    recipient_weight = float(_recipient(donor).weight_kg)
    if donor.planned_graft == "right_lobe":
        graft = recipient_weight * rng.uniform(1.05, 1.3) * 10  # GRWR 1.05-1.3 %
        total = graft / rng.uniform(0.55, 0.6)
    else:
        graft = min(420.0, max(210.0, recipient_weight * rng.uniform(1.8, 3.0) * 10))
        total = rng.uniform(1350, 1650)
    graft_ml, total_ml = round(graft), round(total)
    return {
        "measured_on": measured_on,
        "total_liver_volume_ml": Decimal(total_ml),
        "graft_volume_ml": Decimal(graft_ml),
        "graft_includes_mhv": False,
        "remnant_volume_ml": Decimal(total_ml - graft_ml),
        "density_factor": Decimal("1.0"),
        "recipient_weight_kg": _recipient(donor).weight_kg,
        "recipient_height_cm": Decimal(_recipient_height_cm(donor, rng)),
    }


def steatosis_values(donor: Donor, measured_on: datetime.date) -> dict:
    pdff = round(_rng(donor).uniform(1.5, 4.5), 1)
    return {"measured_on": measured_on, "modality": "mri_pdff", "pdff_pct": Decimal(str(pdff))}


def artery_values(donor: Donor, measured_on: datetime.date) -> dict:
    values = {"measured_on": measured_on, "michels_type": "I"}
    if donor.planned_graft != "right_lobe":
        values["segment4_origin"] = "left_hepatic"
    return values


def portal_values(donor: Donor, measured_on: datetime.date) -> dict:
    return {"measured_on": measured_on, "portal_scheme": "nakamura", "portal_type": "A"}


def vein_values(donor: Donor, measured_on: datetime.date) -> dict:
    return {
        "measured_on": measured_on,
        "mhv_with_graft": False,
        "v5_mm": Decimal(3),
        "v8_mm": Decimal(2),
        "inferior_right_hv_mm": Decimal(0),
    }


def clearance_values(kind: str, measured_on: datetime.date) -> dict:
    return {"measured_on": measured_on, "clearance_kind": kind, "clearance_status": "cleared"}


# ---------------------------------------------------------------- steps (each skipped when done)


def start_workup(story: Story, donor: Donor) -> None:
    if donor.status == Status.CANDIDATE:
        transition_donor(
            actor=story.actor("coordinator"),
            donor=donor,
            to_status=Status.IN_EVALUATION,
            reason="consent signed; workup started",
        )


def record(story: Story, donor: Donor, kind: str, values: dict) -> None:
    spec = workup_services.KINDS[kind]
    same = {spec.sub_field: values[spec.sub_field]} if spec.sub_field else {}
    if spec.model._default_manager.filter(donor=donor, **same).exists():
        return
    author = RECORD_AUTHOR.get(kind, "radiologist")
    workup_services.record_workup(actor=story.actor(author), donor=donor, kind=kind, values=values)


def record_labs(story: Story, donor: Donor, *, days_ago: int = 40) -> None:
    record(story, donor, "labs", lab_values(donor, story.days_ago(days_ago)))


def record_full_workup(story: Story, donor: Donor, *, days_ago: int = 40) -> None:
    """Every record of the workup, each entered by its owner, a few days apart."""
    record_labs(story, donor, days_ago=days_ago)
    record(story, donor, "volumetry", volumetry_values(donor, story.days_ago(days_ago - 5)))
    record(story, donor, "steatosis", steatosis_values(donor, story.days_ago(days_ago - 5)))
    record(story, donor, "hepatic-artery", artery_values(donor, story.days_ago(days_ago - 7)))
    record(story, donor, "portal-vein", portal_values(donor, story.days_ago(days_ago - 7)))
    record(story, donor, "hepatic-veins", vein_values(donor, story.days_ago(days_ago - 7)))
    for kind in ("psychosocial", "donor_advocate"):
        record(story, donor, "clearances", clearance_values(kind, story.days_ago(days_ago - 10)))


def record_anatomy(story: Story, donor: Donor, document: dict, *, final: bool) -> Annotation:
    """The radiologist's anatomy, classified here and now (a queued task then finds it done)."""
    radiologist = story.actor("radiologist")
    annotation = Annotation.objects.filter(donor=donor).first()
    if annotation is None:
        study = Study.objects.filter(donor=donor).order_by("pk").first()
        annotation = classification_services.save_annotation(
            actor=radiologist, donor=donor, document=document, study_uid=study.study_instance_uid if study else ""
        )
    classification_jobs.classify_annotation(annotation_id=annotation.pk)
    annotation = Annotation.objects.get(pk=annotation.pk)
    if final and annotation.state != Annotation.State.FINAL:
        annotation = classification_services.finalise_annotation(
            actor=radiologist, annotation=annotation, expected_version=annotation.version
        )
    return annotation


def decide(
    story: Story, donor: Donor, outcome: str, reasons: str, *, signers=SIGNING_ROLES, conditions: str = ""
) -> None:
    """Propose the team's decision (the surgeon) and sign it in `signers`' roles; signing by all
    three completes it and sets the donor's status."""
    donor.refresh_from_db()
    if donor.status != Status.IN_EVALUATION:
        return
    decision = Decision.objects.filter(donor=donor, decision_state=DecisionState.OPEN).first()
    if decision is None:
        decision = workup_services.propose_decision(
            actor=story.actor("surgeon"), donor=donor, outcome=outcome, reasons=reasons, conditions=conditions
        )
    elif decision.decision_outcome != outcome:
        raise IllegalState(f"its open decision proposes {Status(decision.decision_outcome).label.lower()}")
    signed = set(decision.sign_offs.values_list("signed_as", flat=True))
    for role in signers:
        if role not in signed:
            workup_services.sign_decision(actor=story.actor(role), donor=donor, decision_id=decision.pk, signed_as=role)


def record_operation(story: Story, donor: Donor, *, ductoplasty: bool = False, complications: str = "") -> None:
    """The surgeon's record of the operation: the anastomoses the anatomy predicted (one fewer when a
    ductoplasty joined two ducts first), which sets the donor donated."""
    if SurgicalOutcome.objects.filter(donor=donor).exists():
        return
    annotation = Annotation.objects.get(donor=donor)
    run = current_run(annotation)
    assert run is not None, "the final anatomy is classified before the operation"
    anastomoses = max(1, int(run.prediction["anastomoses"]) - (1 if ductoplasty else 0))
    paediatric = donor.planned_graft == "left_lateral_segment"
    technique = {1: "Roux-en-Y" if paediatric else "end-to-end", 2: "double Roux-en-Y", 3: "triple Roux-en-Y"}
    classification_services.record_outcome(
        actor=story.actor("surgeon"),
        donor=donor,
        values={
            "operated_on": story.today,
            "anastomoses": anastomoses,
            "technique": technique.get(anastomoses, "other"),
            "ductoplasty": ductoplasty,
            "complications": complications,
        },
    )


def issue_report(story: Story, donor: Donor) -> None:
    """Issue the first version of the report and render its PDF here and now."""
    if not ReportVersion.objects.filter(donor=donor).exists():
        report_services.issue_report(actor=story.actor("surgeon"), donor=donor)
    for version in ReportVersion.objects.filter(donor=donor).exclude(pdf_state=ReportVersion.PdfState.READY):
        report_jobs.render_pdf(version_id=version.pk)


# ---------------------------------------------------------------- the stages


def fully_worked_up(story: Story, donor: Donor) -> None:
    start_workup(story, donor)
    record_full_workup(story, donor, days_ago=35)
    record_anatomy(story, donor, preset_document("typical_right_lobe"), final=True)
    decide(story, donor, Status.SUITABLE, "complete workup, every check passes; biliary type 1")
    issue_report(story, donor)


def half_done_with_draft_anatomy(story: Story, donor: Donor) -> None:
    start_workup(story, donor)
    record_labs(story, donor, days_ago=21)
    record(story, donor, "volumetry", volumetry_values(donor, story.days_ago(14)))
    record(story, donor, "steatosis", steatosis_values(donor, story.days_ago(14)))
    record_anatomy(story, donor, preset_document("trifurcation"), final=False)


def declined_type_3(story: Story, donor: Donor) -> None:
    start_workup(story, donor)
    record_full_workup(story, donor, days_ago=50)
    record_anatomy(story, donor, three_right_ducts(), final=True)
    decide(
        story,
        donor,
        Status.NOT_SUITABLE,
        "biliary type 3: three separate ducts leave the right lobe graft; not suitable by the study's rule",
    )


def identity_waiting(story: Story, donor: Donor) -> None:
    start_workup(story, donor)
    record_labs(story, donor, days_ago=10)


def labs_and_clearance(story: Story, donor: Donor) -> None:
    start_workup(story, donor)
    record_labs(story, donor, days_ago=12)
    record(story, donor, "clearances", clearance_values("psychosocial", story.days_ago(8)))


def old_labs_only(story: Story, donor: Donor) -> None:
    start_workup(story, donor)
    record_labs(story, donor, days_ago=150)
    record(story, donor, "hepatic-artery", artery_values(donor, story.days_ago(140)))


def decision_awaiting_surgeon(story: Story, donor: Donor) -> None:
    start_workup(story, donor)
    record_full_workup(story, donor, days_ago=25)
    record_anatomy(story, donor, with_rhd(12.0), final=True)
    decide(
        story,
        donor,
        Status.SUITABLE,
        "complete workup, every check passes; biliary type 1",
        signers=("radiologist", "hepatologist"),
    )


def donated(document: Callable[[], dict], *, ductoplasty: bool = False, complications: str = ""):
    def stage(story: Story, donor: Donor) -> None:
        start_workup(story, donor)
        record_full_workup(story, donor, days_ago=90)
        record_anatomy(story, donor, document(), final=True)
        annotation = Annotation.objects.get(donor=donor)
        run = current_run(annotation)
        biliary_type = run.results.get(system="proposed").type if run else ""
        decide(story, donor, Status.SUITABLE, f"complete workup; biliary type {biliary_type}")
        record_operation(story, donor, ductoplasty=ductoplasty, complications=complications)

    return stage


def _preset(name: str) -> Callable[[], dict]:
    return lambda: preset_document(name)


# (donor code, what the donor shows with the page to see it, how it gets there); the other demo donors
# stay new candidates.
STAGES: list[tuple[str, str, Callable[[Story, Donor], None]]] = [
    (
        "DEMO-001",
        "fully worked up: MRCP, final anatomy, every check passing, signed decision, report with PDF "
        "(/reports/donors/{pk}/)",
        fully_worked_up,
    ),
    (
        "DEMO-002",
        "workup half done: labs, volumetry, steatosis, MRCP and a draft anatomy (/anatomy/donors/{pk}/)",
        half_done_with_draft_anatomy,
    ),
    ("DEMO-003", "type 3 anatomy, declined: not suitable by the signed decision", declined_type_3),
    ("DEMO-004", "MRCP whose files name someone else: identity waiting to be resolved", identity_waiting),
    ("DEMO-005", "workup begun: labs and psychosocial clearance", labs_and_clearance),
    ("DEMO-006", "workup stalled: labs 150 days old, hepatic artery", old_labs_only),
    (
        "DEMO-007",
        "decision proposed, signed by radiologist and hepatologist, waiting for the surgeon (/donors/{pk}/workup/)",
        decision_awaiting_surgeon,
    ),
    ("DEMO-008", "donated, outcome recorded", donated(_preset("typical_right_lobe"))),
    ("DEMO-009", "donated, outcome recorded (ductoplasty)", donated(_preset("rphd_into_lhd"), ductoplasty=True)),
    ("DEMO-010", "donated, outcome recorded", donated(lambda: with_rhd(7.0))),
    (
        "DEMO-011",
        "donated, outcome recorded (bile leak)",
        donated(_preset("trifurcation"), complications="minor bile leak, managed with a drain"),
    ),
    ("DEMO-012", "donated, outcome recorded", donated(_preset("lls_typical_trunk"))),
    ("DEMO-013", "donated, outcome recorded", donated(_preset("lls_b2_separate"))),
    ("DEMO-014", "donated, outcome recorded", donated(_preset("lls_typical_trunk"))),
    ("DEMO-015", "donated, outcome recorded", donated(_preset("lls_typical_trunk"))),
]


def seed_workflow_stages(*, centre, users) -> str:
    """Take each staged demo donor as far as its stage; list every demo donor by stage."""
    story = Story(users=users, today=timezone.localdate())
    donors = {donor.code: donor for donor in Donor.objects.filter(centre=centre, code__startswith="DEMO-")}
    lines = ["Demo donors by stage (donor page /donors/<id>/):"]
    staged = set()
    for code, label, stage in STAGES:
        donor = donors.get(code)
        if donor is None:
            continue
        staged.add(code)
        try:
            with transaction.atomic():
                stage(story, donor)
        except DomainError as error:
            # A donor someone has since worked on by hand (or seeded by an older version) stays as it is.
            lines.append(f"  {code} (/donors/{donor.pk}/)  left as it is, not taken to its stage: {error}")
            continue
        lines.append(f"  {code} (/donors/{donor.pk}/)  {label.format(pk=donor.pk)}")
    candidates = sorted(
        code for code, donor in donors.items() if code not in staged and donor.status == Status.CANDIDATE
    )
    if candidates:
        lines.append(f"  {', '.join(candidates)}  new candidates, nothing recorded yet")
    lines.append("  The donated donors' outcomes are on the cohort page, /reports/cohort/.")
    return "\n".join(lines)
