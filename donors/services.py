"""Every write to donors and recipients: one keyword-only function per action, one
transaction, one audit event."""

from __future__ import annotations

from django.db import transaction

from core.access import require
from core.audit import Actor, record_event, record_type_of
from core.errors import Conflict, IllegalState, InvalidInput, NotPermitted
from core.models import AuditEvent
from core.roles import Action

from . import validation
from .models import Donor, Recipient, StatusChange
from .workflow import DecisionProgress, Door, IllegalTransition, check_transition

DONOR_FIELDS = (
    "code",
    "mrn",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "height_cm",
    "weight_kg",
    "abo",
    "relationship",
    "planned_graft",
    "recipient",
)
RECIPIENT_FIELDS = (
    "code",
    "age_years",
    "weight_kg",
    "abo",
    "diagnosis",
    "diagnosis_detail",
    "own_duct_usable",
)


def actor_centre_id(actor: Actor) -> int:
    """The centre the actor works for, once `require` has let the actor through (it refuses an actor
    without a centre, so the refusal here is never reached after it)."""
    centre_id = actor.centre_id
    if centre_id is None:
        raise NotPermitted("you do not belong to a centre")
    return centre_id


def _as_json(value):
    if hasattr(value, "pk"):
        return value.pk
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _check_recipient_in_centre(actor: Actor, values: dict) -> None:
    recipient = values.get("recipient")
    if recipient is not None and recipient.centre_id != actor.centre_id:
        # Worded as for a recipient that does not exist: another centre's ids disclose nothing.
        reason = f"no recipient {recipient.pk} in your centre"
        raise InvalidInput(f"recipient: {reason}", fields={"recipient": [reason]})


def _check_unique_code(model, actor: Actor, values: dict, exclude_pk=None) -> None:
    if "code" not in values:
        return
    clash = model.objects.filter(centre_id=actor.centre_id, code=values["code"]).exclude(pk=exclude_pk)
    if clash.exists():
        raise InvalidInput("code already used", fields={"code": [f"'{values['code']}' is already used in this centre"]})


@transaction.atomic
def create_donor(*, actor: Actor, values: dict) -> Donor:
    require(actor, Action.CREATE_DONOR)
    values = {k: v for k, v in values.items() if k in DONOR_FIELDS}
    errors = validation.donor_errors(values)
    if errors:
        raise InvalidInput("some values are not acceptable", fields=errors)
    _check_recipient_in_centre(actor, values)
    _check_unique_code(Donor, actor, values)
    donor = Donor(centre_id=actor_centre_id(actor), **values)
    donor._history_user = actor.user
    donor.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=donor,
        summary=f"created donor {donor.code}",
        changes={k: [None, _as_json(v)] for k, v in values.items()},
    )
    return donor


def _locked(model, pk):
    return model.objects.select_for_update().get(pk=pk)


def _apply_changes(record, values: dict) -> dict:
    changes = {}
    for field, new in values.items():
        old = getattr(record, field)
        if _as_json(old) != _as_json(new) and str(old) != str(new):
            changes[field] = [_as_json(old), _as_json(new)]
            setattr(record, field, new)
    return changes


def _check_version(record, expected_version: int | None) -> None:
    if expected_version is None:
        raise InvalidInput("version is required", fields={"version": ["send the version you last read"]})
    if record.version != expected_version:
        raise Conflict(
            f"this record was changed by someone else (you edited version {expected_version}, "
            f"it is now version {record.version}); reload and apply your change again",
            fields={"version": [f"stale: current version is {record.version}"]},
        )


@transaction.atomic
def update_donor(*, actor: Actor, donor: Donor, expected_version: int | None, values: dict) -> Donor:
    require(actor, Action.EDIT_DEMOGRAPHICS)
    values = {k: v for k, v in values.items() if k in DONOR_FIELDS}
    errors = validation.donor_errors(values)
    if errors:
        raise InvalidInput("some values are not acceptable", fields=errors)
    donor = _locked(Donor, donor.pk)
    _check_version(donor, expected_version)
    _check_recipient_in_centre(actor, values)
    _check_unique_code(Donor, actor, values, exclude_pk=donor.pk)
    changes = _apply_changes(donor, values)
    if changes:
        donor.version += 1
        donor._history_user = actor.user
        donor.save()
        record_event(
            actor=actor,
            kind=AuditEvent.Kind.UPDATE,
            record=donor,
            summary=f"changed {', '.join(sorted(changes))}",
            changes=changes,
        )
    return donor


@transaction.atomic
def transition_donor(
    *, actor: Actor, donor: Donor, to_status: str, reason: str, expected_version: int | None = None
) -> StatusChange:
    require(actor, Action.CHANGE_STATUS)
    donor = _locked(Donor, donor.pk)
    if expected_version is not None:
        _check_version(donor, expected_version)
    try:
        check_transition(donor.status, to_status, reason, progress=_decision_progress(donor))
    except IllegalTransition as error:
        field = "reason" if "reason" in str(error) else "to_status"
        raise IllegalState(str(error), fields={field: [str(error)]}) from None
    return _move_status(actor=actor, donor=donor, to_status=to_status, reason=reason)


def _decision_progress(donor: Donor) -> DecisionProgress | None:
    """The donor's open decision (outcome and signed roles), so a refusal can name what is missing.

    Read through the donor's `decisions` relation (a `workup.Decision`): the workup sits above this
    app, which names none of its modules."""
    decision = donor.decisions.filter(decision_state="open").first()
    if decision is None:
        return None
    signed = frozenset(decision.sign_offs.values_list("signed_as", flat=True))
    return DecisionProgress(outcome=decision.decision_outcome, signed=signed)


def move_status_through(*, actor: Actor, door: Door, donor: Donor, to_status: str, reason: str) -> StatusChange:
    """A status change that another action brings about (the operation sets donated), checked
    against the same rules; `donor` is locked by the caller, inside its transaction."""
    try:
        check_transition(donor.status, to_status, reason, door=door)
    except IllegalTransition as error:
        raise IllegalState(str(error), fields={"status": [str(error)]}) from None
    return _move_status(actor=actor, donor=donor, to_status=to_status, reason=reason)


def _move_status(*, actor: Actor, donor: Donor, to_status: str, reason: str) -> StatusChange:
    """Write a status change already checked by the caller (inside its transaction)."""
    change = StatusChange.objects.create(
        donor=donor, from_status=donor.status, to_status=to_status, reason=reason.strip(), changed_by=actor.user
    )
    donor.status = to_status
    donor.version += 1
    donor._history_user = actor.user
    donor.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.TRANSITION,
        record=donor,
        summary=f"status {change.from_label.lower()} -> {change.to_label.lower()}",
        changes={"status": [change.from_status, change.to_status], "reason": reason.strip()},
    )
    return change


@transaction.atomic
def create_recipient(*, actor: Actor, values: dict) -> Recipient:
    require(actor, Action.EDIT_RECIPIENT)
    values = {k: v for k, v in values.items() if k in RECIPIENT_FIELDS}
    errors = validation.recipient_errors(values)
    if errors:
        raise InvalidInput("some values are not acceptable", fields=errors)
    _check_unique_code(Recipient, actor, values)
    recipient = Recipient(centre_id=actor_centre_id(actor), **values)
    recipient._history_user = actor.user
    recipient.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=recipient,
        summary=f"created recipient {recipient.code}",
        changes={k: [None, _as_json(v)] for k, v in values.items()},
        centre_id=actor.centre_id,
    )
    return recipient


@transaction.atomic
def update_recipient(*, actor: Actor, recipient: Recipient, expected_version: int | None, values: dict) -> Recipient:
    require(actor, Action.EDIT_RECIPIENT)
    values = {k: v for k, v in values.items() if k in RECIPIENT_FIELDS}
    recipient = _locked(Recipient, recipient.pk)
    _check_version(recipient, expected_version)
    merged = {f: getattr(recipient, f) for f in RECIPIENT_FIELDS} | values
    errors = validation.recipient_errors(merged)
    if errors:
        raise InvalidInput("some values are not acceptable", fields=errors)
    _check_unique_code(Recipient, actor, values, exclude_pk=recipient.pk)
    changes = _apply_changes(recipient, values)
    if changes:
        recipient.version += 1
        recipient._history_user = actor.user
        recipient.save()
        record_event(
            actor=actor,
            kind=AuditEvent.Kind.UPDATE,
            record=recipient,
            summary=f"changed {', '.join(sorted(changes))}",
            changes=changes,
            centre_id=actor.centre_id,
        )
    return recipient


def record_donor_read(*, actor: Actor, donor: Donor, what: str = "donor record") -> None:
    """Reading a donor's record is itself recorded."""
    record_event(actor=actor, kind=AuditEvent.Kind.READ, record=donor, summary=f"viewed {what}")


def record_audit_trail_read(*, actor: Actor, filters: dict, page: int) -> None:
    """Looking at the audit trail is itself recorded, with the filters used."""
    used = {name: str(value) for name, value in filters.items() if value not in (None, "")}
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.READ,
        record_type=record_type_of(AuditEvent),
        summary="viewed the audit trail" + (f" ({', '.join(f'{k}={v}' for k, v in used.items())})" if used else ""),
        changes={"filters": used, "page": page},
        centre_id=actor.centre_id,
    )


def record_recipient_read(*, actor: Actor, recipient: Recipient, what: str = "recipient record") -> None:
    """Reading a recipient's record is recorded as reading a donor's is."""
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.READ,
        record=recipient,
        summary=f"viewed {what}",
        centre_id=recipient.centre_id,
    )


def record_refused_access(
    *, actor: Actor, record_type: str, record_id, target_centre_id: int | None = None, donor_id: int | None = None
) -> None:
    """One event for a refused attempt on another centre's record, seen by the auditors of both centres.

    It is filed under the prober's centre (`centre`) and names the centre whose record was asked for
    (`target_centre`); the audit trail of a centre shows the events of either. It keeps the donor's
    id (the prober sent it, or the id of a record of that donor) but not the donor's code, which the
    prober's centre must not learn. The prober's answer is the same as for a record that does not exist.
    """
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.DENIED,
        record_type=record_type,
        record_id=record_id,
        summary="refused: not a record of your centre",
        centre_id=actor.centre_id,
        target_centre_id=target_centre_id if target_centre_id != actor.centre_id else None,
        donor_id=donor_id,
    )
