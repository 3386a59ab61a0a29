"""What the classification worker does: the services its tasks call.

Apart from services.py, which queues these jobs, so that services -> tasks -> jobs runs one way."""

from __future__ import annotations

from django.db import transaction

from core.audit import record_event
from core.models import AuditEvent
from core.text import counted

from . import selectors
from .document import RULES_VERSION, classify_document
from .models import Annotation, ClassificationResult, ClassificationRun


@transaction.atomic
def classify_annotation(*, annotation_id: int, tallies_by_centre: dict | None = None) -> ClassificationRun | None:
    """Classify the annotation's current document. Idempotent: a run that exists for this exact
    document and rules version is returned as it is, and nothing new is stored."""
    _bounded_lock_wait()
    annotation = (
        Annotation.objects.select_for_update(of=("self",))
        .select_related("donor", "donor__recipient")
        .get(pk=annotation_id)
    )
    existing = ClassificationRun.objects.filter(
        annotation=annotation, document_sha256=annotation.document_sha256, rules_version=RULES_VERSION
    ).first()
    if existing is not None:
        if annotation.classification != Annotation.Classification.DONE:
            mark_classification(annotation, Annotation.Classification.DONE, "")
        return None
    donor = annotation.donor
    if tallies_by_centre is not None:
        tallies = tallies_by_centre.setdefault(donor.centre_id, selectors.centre_tallies(donor.centre_id))
    else:
        tallies = selectors.centre_tallies(donor.centre_id)
    result = classify_document(annotation.document, recipient=selectors.recipient_context(donor), local_tallies=tallies)
    if not result["valid"]:
        mark_classification(
            annotation, Annotation.Classification.FAILED, "the anatomy is invalid: " + "; ".join(result["errors"])
        )
        return None
    run = ClassificationRun.objects.create(
        annotation=annotation,
        revision=annotation.revision,
        document_sha256=annotation.document_sha256,
        anatomy=annotation.document,
        rules_version=RULES_VERSION,
        prediction=result["prediction"],
    )
    ClassificationResult.objects.bulk_create(
        ClassificationResult(
            run=run,
            system=system,
            type=entry["type"],
            rule=entry["rule"],
            provisional=entry.get("provisional", False),
            detail=entry,
        )
        for system, entry in result["results"].items()
    )
    mark_classification(annotation, Annotation.Classification.DONE, "")
    proposed = result["results"]["proposed"]
    record_event(
        actor=None,
        kind=AuditEvent.Kind.CREATE,
        record=run,
        donor=donor,
        channel="worker",
        summary=f"classified anatomy revision {annotation.revision}: proposed type {proposed['type']}, "
        f"{counted(result['prediction']['anastomoses'], 'anastomosis', 'anastomoses')} predicted",
    )
    return run


def _bounded_lock_wait() -> None:
    """A task never waits long on a row lock: it fails with a transient error and is retried."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '10s'")


def mark_classification(annotation: Annotation, state: str, error: str) -> None:
    annotation.classification = state
    annotation.classification_error = error[:300]
    annotation.skip_history_when_saving = True  # a derived state, not a clinical change
    annotation.save(update_fields=["classification", "classification_error", "updated_at"])
    del annotation.skip_history_when_saving


def classify_annotations(*, annotation_ids: list[int]) -> int:
    """Classify a batch in one transaction (the worker's unit of work for bulk re-classification)."""
    tallies: dict = {}
    stored = 0
    with transaction.atomic():
        for annotation_id in annotation_ids:
            if classify_annotation(annotation_id=annotation_id, tallies_by_centre=tallies) is not None:
                stored += 1
    return stored


def record_classification_failure(*, annotation_id: int, reason: str) -> None:
    """A task that gave up leaves a reason a coordinator understands on the annotation."""
    with transaction.atomic():
        annotation = Annotation.objects.select_for_update().get(pk=annotation_id)
        mark_classification(annotation, Annotation.Classification.FAILED, reason)
