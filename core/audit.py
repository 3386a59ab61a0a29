"""Who is acting, and the one function that writes an audit event.

Services call `record_event` inside the transaction of the change they make, so the
change and its audit row commit or roll back together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import DONOR_MODEL, ApiClient, AuditEvent


@dataclass(frozen=True)
class Actor:
    """The person or hospital system behind a request, and where it came from."""

    user: Any  # the user model (settings.AUTH_USER_MODEL), or AnonymousUser for a login attempt
    channel: str = "page"
    ip_address: str | None = None
    api_client: ApiClient | None = None

    @property
    def centre_id(self) -> int | None:
        return getattr(self.user, "centre_id", None)  # None for an anonymous login attempt

    @property
    def roles(self):
        return self.user.role_set


def actor_from_request(request, *, channel: str) -> Actor:
    client = request.auth if isinstance(getattr(request, "auth", None), ApiClient) else None
    return Actor(
        user=request.user,
        channel="api" if client is not None else channel,
        ip_address=client_ip(request),
        api_client=client,
    )


def client_ip(request) -> str | None:
    """The client's address, for the audit trail and the failed-login lockout.

    Behind the reverse proxy REMOTE_ADDR is the proxy, and the proxy appends the address it
    saw to X-Forwarded-For: the last entry is the one a client cannot forge (earlier entries
    are whatever the client sent). Only trusted when DJANGO_USE_X_FORWARDED_FOR says a proxy
    is in front."""
    from django.conf import settings

    if getattr(settings, "USE_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def record_type_of(record_or_model) -> str:
    """The name events about this record (or model) are filed under: the model's label, or the
    label it had when it was first audited, if it has since moved (`audit_record_type`)."""
    return getattr(record_or_model, "audit_record_type", None) or record_or_model._meta.label


def _is_donor(record) -> bool:
    return record is not None and record._meta.label == DONOR_MODEL


def record_event(
    *,
    actor: Actor | None,
    kind: str,
    record: Any = None,
    record_type: str = "",
    record_id: str | int = "",
    donor: Any = None,  # a DONOR_MODEL instance
    summary: str = "",
    changes: dict | None = None,
    channel: str | None = None,
    centre_id: int | None = None,
    target_centre_id: int | None = None,
    donor_id: int | None = None,
) -> AuditEvent:
    if record is not None:
        record_type = record_type or record_type_of(record)
        record_id = record_id or record.pk
    if donor is None and _is_donor(record):
        donor = record
    return AuditEvent.objects.create(
        user=actor.user if actor and actor.user and actor.user.is_authenticated else None,
        api_client=actor.api_client if actor else None,
        centre_id=centre_id or (donor.centre_id if donor else (actor.centre_id if actor else None)),
        target_centre_id=target_centre_id,
        kind=kind,
        record_type=record_type,
        record_id=str(record_id or ""),
        donor_id=donor.pk if donor else donor_id,
        donor_code=donor.code if donor else "",
        channel=channel or (actor.channel if actor else "worker"),
        ip_address=actor.ip_address if actor else None,
        summary=summary[:300],
        changes=changes or {},
    )


def record_reads(*, actor: Actor, donors, summary: str) -> AuditEvent | None:
    """One event for a list of donors shown together (a list page or API page).

    `donors` are Donor instances or `.values()` rows with `id` and `code`."""
    if not donors:
        return None
    shown = [(d["id"], d["code"]) if isinstance(d, dict) else (d.pk, d.code) for d in donors]
    return record_event(
        actor=actor,
        kind=AuditEvent.Kind.LIST,
        record_type="donors.Donor",
        summary=summary,
        changes={"donor_ids": [pk for pk, _ in shown], "donor_codes": [code for _, code in shown]},
        centre_id=actor.centre_id,
    )


def record_recipient_reads(*, actor: Actor, recipients, summary: str) -> AuditEvent | None:
    """One event for a list of recipients shown together, as `record_reads` for donors."""
    if not recipients:
        return None
    return record_event(
        actor=actor,
        kind=AuditEvent.Kind.LIST,
        record_type="donors.Recipient",
        summary=summary,
        changes={"recipient_ids": [r.pk for r in recipients], "recipient_codes": [r.code for r in recipients]},
        centre_id=actor.centre_id,
    )
