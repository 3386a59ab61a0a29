"""Reads of annotations, classification runs, outcomes and the centre's own evidence."""

from __future__ import annotations

from django.db.models import Count, F, Prefetch, Q

from core.access import require
from core.audit import Actor
from core.roles import Action
from donors.models import Donor
from imaging.models import Series
from imaging.selectors import mrcp_series_of

from .document import RULES_VERSION, classify_document
from .models import Annotation, ClassificationResult, ClassificationRun, SurgicalOutcome
from .prediction import OutcomeTally, RecipientContext


def centre_tallies(centre_id: int) -> dict[tuple[str, int], OutcomeTally]:
    """The centre's operated donors by (proposed type, predicted count), and how many matched.

    Outcomes recorded by surgeons come from final annotations only (the service enforces it);
    imported historical outcomes count too.
    """
    rows = (
        SurgicalOutcome.objects.filter(donor__centre_id=centre_id, predicted_anastomoses__isnull=False)
        .exclude(proposed_type="")
        .values("proposed_type", "predicted_anastomoses")
        .annotate(total=Count("id"), matched=Count("id", filter=Q(anastomoses=F("predicted_anastomoses"))))
    )
    tallies: dict[tuple[str, int], OutcomeTally] = {}
    for row in rows:
        predicted = row["predicted_anastomoses"]
        if predicted is not None:  # always, by the filter above
            tallies[(row["proposed_type"], predicted)] = OutcomeTally(matched=row["matched"], total=row["total"])
    return tallies


def anatomy_series(donor: Donor, annotation: Annotation | None) -> tuple[list[Series], Series | None]:
    """The donor's MRCP series to choose from, and the one the anatomy was read on: the recorded series,
    else (an anatomy recorded with its study only) the first series of that study, else None."""
    choices = mrcp_series_of(donor)
    if annotation is None:
        return choices, None
    chosen = next(
        (s for s in choices if annotation.series_uid and s.series_instance_uid == annotation.series_uid), None
    )
    if chosen is None and annotation.study_uid:
        chosen = next((s for s in choices if s.study.study_instance_uid == annotation.study_uid), None)
    return choices, chosen


def recipient_context(donor: Donor) -> RecipientContext | None:
    recipient = donor.recipient
    if recipient is None:
        return None
    return RecipientContext(own_duct_usable=recipient.own_duct_usable, paediatric=recipient.paediatric)


def current_run(annotation: Annotation) -> ClassificationRun | None:
    """The run of the annotation's current document under the current rules, if done."""
    runs = getattr(annotation, "current_runs", None)
    if runs is None:
        runs = annotation.runs.filter(rules_version=RULES_VERSION).prefetch_related("results")
    return next((run for run in runs if run.document_sha256 == annotation.document_sha256), None)


def annotation_of(*, actor: Actor, donor: Donor) -> Annotation | None:
    require(actor, Action.VIEW_DONOR)
    return (
        Annotation.objects.filter(donor=donor)
        .select_related("donor", "finalised_by", "updated_by")
        .prefetch_related(_current_runs())
        .first()
    )


def _current_runs():
    return Prefetch(
        "runs",
        queryset=ClassificationRun.objects.filter(rules_version=RULES_VERSION).prefetch_related("results"),
        to_attr="current_runs",
    )


def annotation_list(*, actor: Actor, state: str = ""):
    """The centre's annotations with their current runs, optionally only drafts or finals."""
    require(actor, Action.VIEW_DONOR)
    centre_id = actor.centre_id
    if centre_id is None:  # `require` refuses such an actor; no donor is without a centre
        return Annotation.objects.none()
    annotations = (
        Annotation.objects.filter(donor__centre_id=centre_id)
        .select_related("donor")
        .prefetch_related(_current_runs())
        .order_by("donor__code")
    )
    return annotations.filter(state=state) if state else annotations


def run_history(*, annotation: Annotation):
    return annotation.runs.prefetch_related("results").order_by("-created_at", "-pk")


def live_result(*, donor: Donor, annotation: Annotation, tallies=None) -> dict:
    """The result document for the annotation as it stands, with today's recipient and evidence."""
    return classify_document(
        annotation.document,
        recipient=recipient_context(donor),
        local_tallies=tallies if tallies is not None else centre_tallies(donor.centre_id),
    )


def surgical_worklist(*, actor: Actor):
    """Donors whose anatomy is final, with the current prediction and any recorded outcome."""
    require(actor, Action.VIEW_DONOR)
    centre_id = actor.centre_id
    if centre_id is None:  # `require` refuses such an actor; no donor is without a centre
        return []
    annotations = (
        Annotation.objects.filter(donor__centre_id=centre_id, state=Annotation.State.FINAL)
        .select_related("donor", "donor__recipient", "donor__surgical_outcome")
        .prefetch_related(_current_runs())
        .order_by("donor__code")
    )
    tallies = centre_tallies(centre_id)
    rows = []
    for annotation in annotations:
        result = live_result(donor=annotation.donor, annotation=annotation, tallies=tallies)
        outcome = getattr(annotation.donor, "surgical_outcome", None)
        rows.append({"annotation": annotation, "donor": annotation.donor, "result": result, "outcome": outcome})
    return rows


def outcome_of(*, donor: Donor) -> SurgicalOutcome | None:
    return SurgicalOutcome.objects.filter(donor=donor).first()


def final_proposed_type(donor) -> str | None:
    """The proposed biliary type of the donor's final anatomy under the current rules, or None.

    The workup checklist, the team's decision and the report all read it here, so they see the
    same biliary type (one query).
    """
    return (
        ClassificationResult.objects.filter(
            system="proposed",
            run__annotation__donor=donor,
            run__annotation__state=Annotation.State.FINAL,
            run__rules_version=RULES_VERSION,
            run__document_sha256=F("run__annotation__document_sha256"),
        )
        .values_list("type", flat=True)
        .first()
    )
