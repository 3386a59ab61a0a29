"""Reads of the imaging app, scoped to the actor's centre, and the audit of image reads.

Another centre's upload, study, series or instance is answered as not found (its
existence is not disclosed) and the attempt is audited, as for donors.

Image reads are audited as reads of the donor's record, aggregated so that scrolling
through a series does not write an event per slice: one event per series (or upload)
per user per minute (`IMAGE_READ_AUDIT_SECONDS`). Viewer page loads and file downloads
are recorded every time.
"""
from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from donors.audit import Actor, record_event
from donors.errors import NotFound
from donors.models import AuditEvent, Donor
from donors.roles import Action
from donors.services import record_refused_access, require

from .models import Instance, Measurement, Series, Study, Upload

IMAGE_READ_AUDIT_SECONDS = 60


def _scoped(actor: Actor, queryset: QuerySet, pk, action: Action, label: str, donor_path: str):
    require(actor, action)
    record = queryset.filter(pk=pk).first() if str(pk).isdigit() else None
    donor = donor_centre = None
    if record is not None:
        donor = record
        for part in donor_path.split("."):
            donor = getattr(donor, part)
        donor_centre = donor.centre_id
    if record is None or donor_centre != actor.centre_id:
        if record is not None:
            record_refused_access(actor=actor, record_type=queryset.model._meta.label, record_id=pk,
                                  target_centre_id=donor_centre, donor_id=donor.pk)
        raise NotFound(f"no {label} {pk} in your centre")
    return record


def upload_for(*, actor: Actor, pk, action: Action = Action.UPLOAD_IMAGES) -> Upload:
    return _scoped(actor, Upload.objects.select_related("donor"), pk, action, "upload", "donor")


def study_for(*, actor: Actor, pk, action: Action = Action.VIEW_IMAGES) -> Study:
    return _scoped(actor, Study.objects.select_related("donor"), pk, action, "study", "donor")


def series_for(*, actor: Actor, pk, action: Action = Action.VIEW_IMAGES) -> Series:
    return _scoped(actor, Series.objects.select_related("study__donor"), pk, action, "series", "study.donor")


def instance_for(*, actor: Actor, pk, action: Action = Action.VIEW_IMAGES) -> Instance:
    return _scoped(actor, Instance.objects.select_related("donor", "series__study"), pk, action, "image", "donor")


def studies_of(*, donor: Donor) -> list[Study]:
    studies = list(donor.studies.prefetch_related("series").order_by("-created_at", "-pk"))
    return studies


def uploads_of(*, donor: Donor, limit: int = 10) -> list[Upload]:
    return list(donor.image_uploads.select_related("uploaded_by").order_by("-created_at", "-pk")[:limit])


def measurements_of(*, donor: Donor, series: Series | None = None) -> QuerySet[Measurement]:
    measurements = Measurement.objects.filter(donor=donor).select_related("series", "created_by")
    if series is not None:
        measurements = measurements.filter(series=series)
    return measurements.order_by("-created_at", "-pk")


def upload_series(upload: Upload) -> list[Series]:
    ids = set(upload.files.exclude(series__isnull=True).values_list("series_id", flat=True))
    return list(Series.objects.filter(pk__in=ids).select_related("study").order_by("series_number", "pk"))


def record_image_read(*, actor: Actor, donor: Donor, record, what: str) -> bool:
    """Record a read of images, at most once per record per user per minute. True if recorded."""
    since = timezone.now() - timedelta(seconds=IMAGE_READ_AUDIT_SECONDS)
    recent = AuditEvent.objects.filter(
        user=actor.user, kind=AuditEvent.Kind.READ, record_type=record._meta.label, record_id=str(record.pk),
        at__gte=since,
    ).exists()
    if recent:
        return False
    record_event(
        actor=actor, kind=AuditEvent.Kind.READ, record=record, donor=donor,
        summary=f"viewed {what} (further reads within {IMAGE_READ_AUDIT_SECONDS} s not recorded)"[:300],
    )
    return True


def record_download(*, actor: Actor, donor: Donor, record, what: str) -> None:
    record_event(actor=actor, kind=AuditEvent.Kind.DOWNLOAD, record=record, donor=donor,
                 summary=f"downloaded {what}"[:300])
