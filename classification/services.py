"""Every write of annotations, classification runs and surgical outcomes."""

from __future__ import annotations

import datetime
import functools
import hashlib
import json

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.audit import Actor, record_event
from core.errors import Conflict, IllegalState, InvalidInput
from core.models import AuditEvent
from core.roles import Action
from core.text import counted
from donors.models import Donor
from donors.services import _as_json, move_status_through, require
from donors.workflow import OPERABLE, Door, Status, operation_refusal
from imaging.models import TreeProposal
from imaging.selectors import donor_mrcp_series, refuse_while_images_unresolved

from . import provenance, selectors
from .anatomy import AnatomyInvalid
from .document import RULES_VERSION, classify_document
from .jobs import mark_classification
from .models import Annotation, ClassificationRun, SurgicalOutcome
from .outcomes import operation_date_errors, outcome_errors
from .tasks import classify_annotation_task, classify_annotations_task
from .validation import parse_anatomy


def document_hash(document) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def errors_by_field(errors: list[str]) -> dict[str, list[str]]:
    """["RHD.length_mm: needed ..."] -> {"RHD.length_mm": ["needed ..."]}."""
    fields: dict[str, list[str]] = {}
    for error in errors:
        field, _, reason = error.partition(": ")
        fields.setdefault(field if reason else "document", []).append(reason or error)
    return fields


def validate_for_donor(document, donor: Donor) -> None:
    """Raise InvalidInput naming every problem: the format's rules, then the donor's graft."""
    try:
        anatomy = parse_anatomy(document)
    except AnatomyInvalid as invalid:
        raise InvalidInput(invalid.errors[0], fields=errors_by_field(invalid.errors)) from None
    if anatomy.graft != donor.planned_graft:
        message = f"'{anatomy.graft}' is not the donor's planned graft '{donor.planned_graft}'"
        raise InvalidInput(f"document.graft: {message}", fields={"document.graft": [message]})
    result = classify_document(document)
    if not result["valid"]:
        raise InvalidInput(result["errors"][0], fields=errors_by_field(result["errors"]))


def _queue_classification(annotation_id: int) -> None:
    transaction.on_commit(lambda: classify_annotation_task.delay(annotation_id))


@transaction.atomic
def save_annotation(
    *,
    actor: Actor,
    donor: Donor,
    document,
    expected_version: int | None = None,
    study_uid: str = "",
    series_id: int | str | None = None,
) -> Annotation:
    """Create or change the donor's anatomy; a change reopens a final annotation as a draft.

    `series_id` names the donor's MRCP series the anatomy was read on (refused, naming "series", when it
    is not one of them); the annotation keeps that series' UID and its study's. `study_uid` alone (the
    API) names the study only. A duct taken from a tree proposal and changed here is marked edited."""
    require(actor, Action.RECORD_ANATOMY)
    series_uid = ""
    if series_id not in (None, ""):
        series = donor_mrcp_series(donor=donor, series_id=series_id)
        study_uid, series_uid = series.study.study_instance_uid, series.series_instance_uid
    validate_for_donor(document, donor)
    at = timezone.now().isoformat()
    written = _write_annotation(
        actor=actor,
        donor=donor,
        document=document,
        expected_version=expected_version,
        study_uid=study_uid,
        series_uid=series_uid,
        provenance_of=lambda before: provenance.after_edit(before, document, by=actor.user.username, at=at),
    )
    if written is None:
        return Annotation.objects.get(donor=donor)
    annotation, changes, reopened, created = written
    if created:
        summary = "recorded biliary anatomy"
    else:
        summary = f"changed biliary anatomy (revision {annotation.revision})" + (
            "; final annotation reopened" if reopened else ""
        )
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE if created else AuditEvent.Kind.UPDATE,
        record=annotation,
        donor=donor,
        summary=summary,
        changes=changes,
    )
    return annotation


def _write_annotation(
    *,
    actor: Actor,
    donor: Donor,
    document,
    expected_version: int | None,
    study_uid: str,
    series_uid: str,
    provenance_of,
) -> tuple[Annotation, dict, bool, bool] | None:
    """Store a validated document as the donor's anatomy (no audit event: the caller writes it).

    Returns (annotation, changes, reopened, created), or None when nothing changed. ``provenance_of``
    maps the stored provenance to the new one."""
    digest = document_hash(document)
    annotation = Annotation.objects.select_for_update().filter(donor=donor).first()
    if annotation is None:
        annotation = Annotation(
            donor=donor,
            document=document,
            document_sha256=digest,
            study_uid=study_uid or "",
            series_uid=series_uid,
            created_by=actor.user,
            updated_by=actor.user,
            provenance=provenance_of({}),
        )
        annotation._history_user = actor.user
        annotation.save()
        _queue_classification(annotation.pk)
        return annotation, {"document_sha256": [None, digest]}, False, True
    if expected_version is None:
        raise InvalidInput("version is required", fields={"version": ["send the version you last read"]})
    if annotation.version != expected_version:
        raise Conflict(
            f"the anatomy was changed by someone else (you edited version {expected_version}, it is now "
            f"version {annotation.version}); reload and apply your change again",
            fields={"version": [f"stale: current version is {annotation.version}"]},
        )
    new_provenance = provenance_of(annotation.provenance)
    same_images = (study_uid or "") == annotation.study_uid and series_uid in ("", annotation.series_uid)
    if digest == annotation.document_sha256 and same_images and new_provenance == annotation.provenance:
        return None
    reopened = annotation.state == Annotation.State.FINAL and digest != annotation.document_sha256
    changes: dict[str, object] = {}
    if digest != annotation.document_sha256:
        changes["document_sha256"] = [annotation.document_sha256, digest]
        changes["revision"] = [annotation.revision, annotation.revision + 1]
        annotation.revision += 1
        annotation.classification = Annotation.Classification.PENDING
        annotation.classification_error = ""
    if reopened:
        annotation.state = Annotation.State.DRAFT
        annotation.finalised_by = None
        annotation.finalised_at = None
        changes["state"] = ["final", "draft"]
    if study_uid and study_uid != annotation.study_uid:
        changes["study_uid"] = [annotation.study_uid, study_uid]
    if (study_uid and study_uid != annotation.study_uid or series_uid) and series_uid != annotation.series_uid:
        # A series is recorded together with its study; a study named alone drops the old series.
        changes["series_uid"] = [annotation.series_uid, series_uid]
        annotation.series_uid = series_uid
    newly_edited = sorted(set(provenance.edited(new_provenance)) - set(provenance.edited(annotation.provenance)))
    if newly_edited:
        changes["edited_after_proposal"] = newly_edited
    annotation.provenance = new_provenance
    annotation.document = document
    annotation.document_sha256 = digest
    annotation.study_uid = study_uid or annotation.study_uid
    annotation.updated_by = actor.user
    annotation.version += 1
    annotation._history_user = actor.user
    annotation.save()
    if annotation.classification == Annotation.Classification.PENDING:
        _queue_classification(annotation.pk)
    return annotation, changes, reopened, False


@transaction.atomic
def take_tree_proposal(
    *,
    actor: Actor,
    donor: Donor,
    proposal: TreeProposal,
    duct_ids: list[str] | None = None,
    expected_version: int | None = None,
) -> Annotation:
    """Take a tree proposal into the donor's draft anatomy: whole (``duct_ids`` None), or the chosen ducts,
    each replacing the draft's duct of that id or joining the draft.

    The result must be a valid document for the donor (the rules of `save_annotation`), else nothing
    changes and the error names the field. The proposal predicts; the radiologist edits the draft and
    marks it final. One audit event names the proposal and the ducts taken."""
    require(actor, Action.RECORD_ANATOMY)
    series = proposal.series
    if series.study.donor_id != donor.pk:
        reason = "not a proposal of this donor's images"
        raise InvalidInput(f"proposal: {reason}", fields={"proposal": [reason]})
    donor_mrcp_series(donor=donor, series_id=series.pk, field="proposal")
    if proposal.state != TreeProposal.State.READY or not proposal.document:
        reason = f"the proposal is {proposal.get_state_display().lower()}" + (
            f": {proposal.reason}" if proposal.reason else ""
        )
        raise IllegalState(f"proposal: {reason}"[:300], fields={"proposal": [reason]})
    if proposal.graft != donor.planned_graft:
        reason = (
            f"proposed for the {proposal.graft.replace('_', ' ')}, the donor's planned graft is now "
            f"{donor.planned_graft.replace('_', ' ')}: ask for a new proposal"
        )
        raise IllegalState(f"proposal: {reason}", fields={"proposal": [reason]})
    current = Annotation.objects.filter(donor=donor).first()
    document, chosen, refusal = provenance.draft_with_proposal(
        current.document if current is not None else None,
        proposal.document,
        graft=donor.planned_graft,
        duct_ids=duct_ids,
    )
    if refusal:
        raise InvalidInput(f"ducts: {refusal}", fields={"ducts": [refusal]})
    validate_for_donor(document, donor)
    at = timezone.now().isoformat()
    written = _write_annotation(
        actor=actor,
        donor=donor,
        document=document,
        expected_version=expected_version,
        study_uid=series.study.study_instance_uid,
        series_uid=series.series_instance_uid,
        provenance_of=lambda before: provenance.taken(
            before,
            document=document,
            duct_ids=chosen,
            proposal_id=proposal.pk,
            extractor_version=proposal.extractor_version,
            by=actor.user.username,
            at=at,
        ),
    )
    annotation = Annotation.objects.get(donor=donor) if written is None else written[0]
    changes = dict(written[1]) if written else {}
    changes.update(proposal=proposal.pk, ducts_taken=chosen, extractor_version=proposal.extractor_version)
    whole = "the whole proposal" if duct_ids is None else counted(len(chosen), "duct", "ducts")
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE if written and written[3] else AuditEvent.Kind.UPDATE,
        record=annotation,
        donor=donor,
        summary=f"took {whole} ({', '.join(chosen)}) from tree proposal {proposal.pk} into the draft anatomy"[:300],
        changes=changes,
    )
    return annotation


def stale_annotation_ids() -> list[int]:
    """Annotations with no run under the current rules version (the rules changed since they
    were last classified): their stored results no longer count until they are classified again."""
    current = ClassificationRun.objects.filter(
        annotation=OuterRef("pk"), document_sha256=OuterRef("document_sha256"), rules_version=RULES_VERSION
    )
    return list(
        Annotation.objects.annotate(has_current=Exists(current))
        .filter(has_current=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def queue_reclassification(*, batch_size: int = 200) -> int:
    """Queue every stale annotation for classification under the current rules, in batches, and
    mark them pending so no page shows them as classified meanwhile. Returns how many were queued."""
    annotation_ids = stale_annotation_ids()
    for start in range(0, len(annotation_ids), batch_size):
        batch = annotation_ids[start : start + batch_size]
        with transaction.atomic():
            for annotation in Annotation.objects.select_for_update().filter(pk__in=batch):
                mark_classification(annotation, Annotation.Classification.PENDING, "")
            transaction.on_commit(functools.partial(classify_annotations_task.delay, batch))
    return len(annotation_ids)


@transaction.atomic
def finalise_annotation(*, actor: Actor, annotation: Annotation, expected_version: int | None) -> Annotation:
    require(actor, Action.FINALISE_ANATOMY)
    annotation = Annotation.objects.select_for_update().get(pk=annotation.pk)
    if expected_version is not None and expected_version != annotation.version:
        raise Conflict(
            f"the anatomy was changed since you read it (now version {annotation.version})",
            fields={"version": [f"stale: current version is {annotation.version}"]},
        )
    if annotation.state == Annotation.State.FINAL:
        raise IllegalState("the anatomy is already final")
    if annotation.classification != Annotation.Classification.DONE:
        reason = annotation.classification_error or "classification has not finished yet; try again in a moment"
        raise IllegalState(f"cannot mark final: {reason}")
    refuse_while_images_unresolved(annotation.donor, cannot="mark the anatomy final")
    annotation.state = Annotation.State.FINAL
    annotation.finalised_by = actor.user
    annotation.finalised_at = timezone.now()
    annotation.version += 1
    annotation._history_user = actor.user
    annotation.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.UPDATE,
        record=annotation,
        donor=annotation.donor,
        summary=f"marked biliary anatomy revision {annotation.revision} final"
        + _provenance_words(annotation.provenance),
        changes={
            "state": ["draft", "final"],
            "ducts_from_proposal": provenance.from_proposal(annotation.provenance),
            "ducts_edited_after_proposal": provenance.edited(annotation.provenance),
        },
    )
    return annotation


def _provenance_words(stored) -> str:
    taken, changed = provenance.from_proposal(stored), provenance.edited(stored)
    if not taken and not changed:
        return ""
    words = f"; confirmed {counted(len(taken), 'duct', 'ducts')} as proposed ({', '.join(taken) or 'none'})"
    return words + (f", {len(changed)} edited after taking ({', '.join(changed)})" if changed else "")


OUTCOME_FIELDS = ("operated_on", "anastomoses", "technique", "ductoplasty", "complications")


@transaction.atomic
def record_outcome(*, actor: Actor, donor: Donor, values: dict, expected_version: int | None = None) -> SurgicalOutcome:
    """The surgeon records what was done; the prediction it is compared with is frozen with it."""
    require(actor, Action.RECORD_OUTCOME)
    values = {k: v for k, v in values.items() if k in OUTCOME_FIELDS}
    errors = outcome_errors(anastomoses=values.get("anastomoses"), technique=values.get("technique"))
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)
    donor = Donor.objects.select_for_update().get(pk=donor.pk)
    annotation = Annotation.objects.select_for_update().filter(donor=donor).first()
    if annotation is None or annotation.state != Annotation.State.FINAL:
        raise IllegalState("the donor's biliary anatomy is not final: the radiologist must mark it final first")
    run = selectors.current_run(annotation)
    if run is None:
        raise IllegalState("the final anatomy has no classification yet; try again in a moment")
    decision = _accepting_decision(donor)
    _require_operable(donor, decision)
    proposed_type = run.results.get(system="proposed").type
    outcome = SurgicalOutcome.objects.select_for_update().filter(donor=donor).first()
    frozen = ("proposed_type", "predicted_anastomoses")
    operated_on = values.get("operated_on", outcome.operated_on if outcome else None)
    decided_on = timezone.localdate(decision.completed_at) if decision and decision.completed_at else None
    errors = operation_date_errors(operated_on, decided_on=decided_on, today=timezone.localdate())
    if errors:
        raise InvalidInput(errors["operated_on"][0], fields=errors)
    assert isinstance(operated_on, datetime.date)  # operation_date_errors refuses anything else
    if outcome is None:
        outcome = SurgicalOutcome(donor=donor, recorded_by=actor.user, **values)
        kind, before = AuditEvent.Kind.CREATE, dict.fromkeys((*values, *frozen))
    else:
        if expected_version != outcome.version:
            raise Conflict(
                f"the outcome was changed since you read it (now version {outcome.version})",
                fields={"version": [f"stale: current version is {outcome.version}"]},
            )
        before = {field: getattr(outcome, field) for field in (*values, *frozen)}
        for field, value in values.items():
            setattr(outcome, field, value)
        outcome.version += 1
        kind = AuditEvent.Kind.UPDATE
    outcome.proposed_type = proposed_type or ""
    outcome.predicted_anastomoses = run.prediction["anastomoses"]
    outcome._history_user = actor.user
    outcome.save()
    # Only what changed, from what to what: two edits of the date are two different rows.
    changes = {
        field: [_as_json(old), _as_json(getattr(outcome, field))]
        for field, old in before.items()
        if _as_json(old) != _as_json(getattr(outcome, field))
    }
    changed = ""
    if kind == AuditEvent.Kind.UPDATE:
        changed = f"; changed {', '.join(changes)}" if changes else "; nothing changed"
    record_event(
        actor=actor,
        kind=kind,
        record=outcome,
        donor=donor,
        summary=f"recorded {counted(outcome.anastomoses, 'biliary anastomosis', 'biliary anastomoses')} "
        f"({outcome.technique or 'technique not given'}); predicted {outcome.predicted_anastomoses}{changed}",
        changes=changes,
    )
    if donor.status != Status.DONATED:
        move_status_through(
            actor=actor,
            door=Door.OPERATION,
            donor=donor,
            to_status=Status.DONATED,
            reason=f"operation recorded by the surgeon (operated on {operated_on.isoformat()})",
        )
    return outcome


def _accepting_decision(donor: Donor):
    """The team's latest completed decision (a `workup.Decision`), when it accepted the donor.

    Read through the donor's `decisions` relation: the workup sits above this app, which names none
    of its modules."""
    decision = donor.decisions.filter(decision_state="complete").order_by("-completed_at", "-pk").first()
    return decision if decision is not None and decision.decision_outcome in OPERABLE else None


def _require_operable(donor: Donor, decision) -> None:
    """An operation is recorded for a donor the signed decision accepted (or corrected for one
    already donated); never for any other donor."""
    if donor.status == Status.DONATED:
        return
    refusal = operation_refusal(donor.status)
    if refusal is None and (decision is None or decision.decision_outcome != donor.status):
        refusal = (
            f"this donor is {Status(donor.status).label.lower()} without a completed multidisciplinary "
            f"decision saying so: the team proposes and signs the decision (radiologist, hepatologist, "
            f"surgeon) before the operation is recorded"
        )
    if refusal is not None:
        raise IllegalState(refusal, fields={"status": [refusal]})
