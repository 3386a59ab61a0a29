"""The audit events of FHIR reads and exports: each is a read of the donor's record."""

from __future__ import annotations

from core.audit import Actor, record_event
from core.models import AuditEvent

from ..models import ReportVersion


def record_fhir_read(*, actor: Actor, version: ReportVersion, how: str = "read") -> None:
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.READ,
        record=version,
        donor=version.donor,
        summary=f"viewed issued suitability report version {version.number} as FHIR ({how})",
    )


def record_fhir_export(*, version: ReportVersion) -> None:
    """`manage.py export_fhir`: no person behind it, the command line is the channel."""
    record_event(
        actor=None,
        kind=AuditEvent.Kind.READ,
        record=version,
        donor=version.donor,
        channel="command",
        centre_id=version.donor.centre_id,
        summary=f"exported issued suitability report version {version.number} as FHIR, with its PDF",
    )
