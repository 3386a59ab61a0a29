"""Audit events that belong to no one app: reads on the admin pages and refused logins."""

from __future__ import annotations

from django.apps import apps
from django.db import transaction

from .audit import Actor, record_event, record_type_of
from .models import DONOR_MODEL, AuditEvent


def _admin_donor_id(record) -> int | None:
    """The donor whose data an admin page of this record shows (None for centre-level records)."""
    if record._meta.label == DONOR_MODEL:
        return record.pk
    if isinstance(record, AuditEvent):
        return None  # an event is part of the trail, not a read of the donor it names
    if getattr(record, "donor_id", None) is None and getattr(record, "decision_id", None) is not None:
        return record.decision.donor_id  # a sign-off belongs to its decision's donor
    return getattr(record, "donor_id", None)


def record_admin_read(*, actor: Actor, records: list, model, view: str) -> None:
    """Records shown on an admin page: one event per centre whose records the page shows.

    A list is one LIST event per centre naming every record (and donor) shown; a record, its
    history or a past version of it is one READ event. An administrator may see several centres'
    records at once, so each event is filed under the centre the records belong to."""
    if not records:
        return
    label, noun = record_type_of(model), model._meta.verbose_name
    if model is AuditEvent:
        noun = "the audit trail"
    donor_ids = {pk for pk in map(_admin_donor_id, records) if pk is not None}
    donor_model = apps.get_model(DONOR_MODEL)
    donors = {d.pk: d for d in donor_model.objects.filter(pk__in=donor_ids).only("pk", "code", "centre_id")}

    def centre_of(record):
        donor = donors.get(_admin_donor_id(record))
        return donor.centre_id if donor else getattr(record, "centre_id", None)

    if view != "list":
        record = records[0]
        what = f"audit event {record.pk}" if model is AuditEvent else f"{noun} {record}"
        record_event(
            actor=actor,
            kind=AuditEvent.Kind.READ,
            record=record,
            donor=donors.get(_admin_donor_id(record)),
            summary=f"viewed {what} ({view}, admin)",
            centre_id=centre_of(record),
        )
        return
    by_centre: dict = {}
    for record in records:
        by_centre.setdefault(centre_of(record), []).append(record)
    for centre_id, shown in by_centre.items():
        shown_donors = [donors[pk] for pk in dict.fromkeys(map(_admin_donor_id, shown)) if pk in donors]
        changes = {"record_ids": [r.pk for r in shown]}
        if shown_donors:
            changes |= {"donor_ids": [d.pk for d in shown_donors], "donor_codes": [d.code for d in shown_donors]}
        record_event(
            actor=actor,
            kind=AuditEvent.Kind.LIST,
            record_type=label,
            summary=f"listed {model._meta.verbose_name_plural if model is not AuditEvent else noun} (admin)",
            changes=changes,
            centre_id=centre_id,
        )


def record_login_failure(*, username: str, ip_address: str | None, reason: str) -> AuditEvent:
    """A wrong user name or password, in the trail of the named account's centre (the centre's auditor
    sees failed attempts on its accounts; an unknown name has no centre)."""
    who = f"{username or '(no user name)'} from {ip_address or 'unknown address'}"
    return _record_login_denied(
        username=username,
        ip_address=ip_address,
        summary=f"login failed for {who}: {reason}",
        changes={"login": "failed"},
    )


def record_login_lockout(
    *, username: str, ip_address: str | None, failures: int | None, cool_off_minutes: int
) -> AuditEvent:
    """A login refused because of repeated failures, in the trail of the account's centre."""
    who = f"{username or '(no user name)'} from {ip_address or 'unknown address'}"
    return _record_login_denied(
        username=username,
        ip_address=ip_address,
        summary=f"login locked out for {who} after {failures if failures is not None else 'repeated'} "
        f"failed attempts; retry in {cool_off_minutes} minutes",
        changes={"failures": failures},
    )


@transaction.atomic
def _record_login_denied(*, username: str, ip_address: str | None, summary: str, changes: dict) -> AuditEvent:
    """The attempt is anonymous (nobody is logged in); the account it named is the record, and its centre's
    trail holds the event (an unknown name has no centre)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser

    user_model = get_user_model()
    account = user_model.objects.filter(username=username).only("pk", "centre_id").first() if username else None
    return record_event(
        actor=Actor(user=AnonymousUser(), channel="page", ip_address=ip_address),
        kind=AuditEvent.Kind.DENIED,
        record_type=record_type_of(user_model),
        record_id=account.pk if account else "",
        summary=summary,
        changes={"username": username, "ip_address": ip_address, **changes},
        centre_id=account.centre_id if account else None,
    )
