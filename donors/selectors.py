"""Every read of donors and recipients that pages and the API need, scoped to the actor's centre."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.access import require
from core.audit import Actor
from core.errors import NotFound
from core.models import AuditEvent
from core.roles import Action

from .models import Donor, Recipient, User
from .services import actor_centre_id, record_refused_access


def donor_list(*, actor: Actor, search: str = "", status: str = "", graft: str = "", abo: str = "") -> QuerySet[Donor]:
    require(actor, Action.VIEW_DONOR)
    donors = Donor.objects.filter(centre_id=actor_centre_id(actor))
    if search:
        donors = donors.filter(
            Q(code__icontains=search)
            | Q(mrn__icontains=search)
            | Q(given_name__icontains=search)
            | Q(family_name__icontains=search)
        )
    if status:
        donors = donors.filter(status=status)
    if graft:
        donors = donors.filter(planned_graft=graft)
    if abo:
        donors = donors.filter(abo=abo)
    return donors.order_by("code", "pk")


def _centre_of(model, pk) -> int | None:
    """The centre of the record with this id, if there is one (for auditing a refused attempt)."""
    if not str(pk).isdigit():
        return None
    return model.objects.filter(pk=pk).values_list("centre_id", flat=True).first()


def donor_for(*, actor: Actor, pk, action: Action = Action.VIEW_DONOR) -> Donor:
    """The donor if it belongs to the actor's centre and the role allows the action.

    Another centre's donor is answered as not found (its existence is not disclosed) and
    the attempt is audited.
    """
    require(actor, action)
    try:
        return Donor.objects.select_related("recipient", "centre").get(pk=pk, centre_id=actor_centre_id(actor))
    except (Donor.DoesNotExist, ValueError, TypeError):
        target_centre = _centre_of(Donor, pk)
        if target_centre is not None:
            record_refused_access(
                actor=actor, record_type="donors.Donor", record_id=pk, target_centre_id=target_centre, donor_id=int(pk)
            )
        raise NotFound(f"no donor {pk} in your centre") from None


def recipient_list(*, actor: Actor) -> QuerySet[Recipient]:
    require(actor, Action.VIEW_DONOR)
    return Recipient.objects.filter(centre_id=actor_centre_id(actor)).order_by("code", "pk")


def recipient_for(*, actor: Actor, pk, action: Action = Action.VIEW_DONOR) -> Recipient:
    require(actor, action)
    try:
        return Recipient.objects.get(pk=pk, centre_id=actor_centre_id(actor))
    except (Recipient.DoesNotExist, ValueError, TypeError):
        target_centre = _centre_of(Recipient, pk)
        if target_centre is not None:
            record_refused_access(
                actor=actor, record_type="donors.Recipient", record_id=pk, target_centre_id=target_centre
            )
        raise NotFound(f"no recipient {pk} in your centre") from None


def status_history(*, donor: Donor):
    return donor.status_changes.select_related("changed_by").order_by("changed_at", "pk")


def audit_trail(
    *, actor: Actor, donor_code: str = "", username: str = "", date_from=None, date_to=None, kind: str = ""
):
    """The centre's events, and refused attempts on its records made from another centre, newest first.

    Each filter is written so that an index answers it at ten million events (core's audit
    indexes): the user and the probed donors are looked up first, and a date range is a range
    of `at` (days in the current time zone), not a function of it."""
    require(actor, Action.VIEW_AUDIT)
    centre_id = actor_centre_id(actor)
    events = AuditEvent.objects.filter(Q(centre_id=centre_id) | Q(target_centre_id=centre_id))
    events = events.select_related("user", "api_client", "centre")
    if donor_code:
        code = donor_code.strip()
        # A refused attempt keeps the donor's id only (the prober's centre must not learn the code).
        probed = list(Donor.objects.filter(centre_id=centre_id, code__iexact=code).values_list("pk", flat=True))
        matches = Q(donor_code__iexact=code)
        refused = Q(target_centre_id=centre_id, donor_id__in=probed)
        # Refused attempts from other centres are rare: without any, the code alone is searched,
        # newest first straight from its index (an OR would fetch and sort all of a busy donor's events).
        if probed and AuditEvent.objects.filter(refused).exists():
            matches |= refused
        events = events.filter(matches)
    if username:
        users = list(User.objects.filter(username__iexact=username.strip()).values_list("pk", flat=True))
        events = events.filter(user_id__in=users)
    if date_from:
        events = events.filter(at__gte=_start_of_day(date_from))
    if date_to:
        events = events.filter(at__lt=_start_of_day(date_to + timedelta(days=1)))
    if kind:
        events = events.filter(kind=kind)
    return events.order_by("-at", "-pk")


def _start_of_day(day):
    return timezone.make_aware(datetime.combine(day, time.min))
