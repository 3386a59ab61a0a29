"""Reads of issued report versions, scoped to the actor's centre."""

from __future__ import annotations

from django.core.files.storage import default_storage

from core.audit import Actor
from core.errors import IllegalState, NotFound
from core.models import AuditEvent
from core.roles import Action
from donors.services import record_refused_access, require
from imaging.selectors import reportable_series

from .models import ReportVersion


def version_for(*, actor: Actor, pk, action: Action = Action.VIEW_REPORT) -> ReportVersion:
    """The issued version if its donor is in the actor's centre; another centre's is not found
    (and the attempt audited)."""
    require(actor, action)
    version = (
        ReportVersion.objects.select_related("donor", "donor__centre", "issued_by").filter(pk=pk).first()
        if str(pk).isdigit()
        else None
    )
    if version is None or version.donor.centre_id != actor.centre_id:
        if version is not None:
            record_refused_access(
                actor=actor,
                record_type="reports.ReportVersion",
                record_id=pk,
                target_centre_id=version.donor.centre_id,
                donor_id=version.donor_id,
            )
        raise NotFound(f"no report {pk} in your centre")
    return version


def versions_of(*, donor) -> list[ReportVersion]:
    return list(ReportVersion.objects.filter(donor=donor).select_related("issued_by").order_by("-number"))


# What changes a donor's records; reads, refusals and the reports' own versions and PDFs do not.
RECORD_CHANGES = (AuditEvent.Kind.CREATE, AuditEvent.Kind.UPDATE, AuditEvent.Kind.DELETE, AuditEvent.Kind.TRANSITION)


def record_changes_since(*, donor, version: ReportVersion | None) -> list[AuditEvent]:
    """The changes to the donor's records made after `version` was issued (none without a version),
    oldest first."""
    if version is None:
        return []
    return list(
        AuditEvent.objects.filter(donor_id=donor.pk, kind__in=RECORD_CHANGES, at__gt=version.issued_at)
        .exclude(record_type__startswith="reports.")
        .select_related("user")
        .order_by("at", "id")
    )


def require_pdf_ready(version: ReportVersion) -> None:
    if version.pdf_state == ReportVersion.PdfState.PENDING:
        raise IllegalState("the PDF is still being rendered; try again in a moment")
    if version.pdf_state == ReportVersion.PdfState.FAILED:
        raise IllegalState(f"the PDF could not be rendered: {version.pdf_error}")
    if not version.pdf:
        raise IllegalState("the PDF is missing")


def mip_withdrawn(version: ReportVersion) -> bool:
    """The series whose MIP the version froze was later detached from the donor (or its identity put
    in doubt by new files): the picture is no longer shown."""
    mip = (version.content.get("biliary") or {}).get("mip") or {}
    if not version.mip_path or not mip.get("series_id"):
        return False
    return not reportable_series(version.donor).filter(pk=mip["series_id"]).exists()


def stored_mip(version: ReportVersion) -> bytes | None:
    if not version.mip_path or mip_withdrawn(version):
        return None
    with default_storage.open(version.mip_path, "rb") as handle:
        return handle.read()
