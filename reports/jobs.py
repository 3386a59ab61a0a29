"""What the reports worker does: the services its tasks call.

Apart from services.py, which queues these jobs, so that services -> tasks -> jobs runs one way."""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from core.audit import record_event
from core.models import AuditEvent

from .models import ReportVersion
from .selectors import stored_mip


def render_pdf(*, version_id: int) -> bool:
    """Render the version's PDF from its frozen content. Idempotent: the row is locked and a
    version whose PDF is ready is left alone. True when a PDF was stored by this call."""
    from . import pdf

    with transaction.atomic():
        _bounded_lock_wait()
        version = ReportVersion.objects.select_for_update().select_related("donor").get(pk=version_id)
        if version.pdf_state == ReportVersion.PdfState.READY:
            return False
        data = pdf.render_report_pdf(version.content, mip_png=stored_mip(version))
        name = f"reports/donor-{version.donor_id}/report-{version.number}.pdf"
        if default_storage.exists(name):  # left by an attempt that died before committing
            default_storage.delete(name)
        version.pdf.name = default_storage.save(name, ContentFile(data))
        version.pdf_sha256 = hashlib.sha256(data).hexdigest()
        version.pdf_state = ReportVersion.PdfState.READY
        version.pdf_error = ""
        version.pdf_attempts += 1
        version.pdf_rendered_at = timezone.now()
        version.save(update_fields=["pdf", "pdf_sha256", "pdf_state", "pdf_error", "pdf_attempts", "pdf_rendered_at"])
        record_event(
            actor=None,
            kind=AuditEvent.Kind.CREATE,
            record_type="reports.ReportVersion.pdf",
            record_id=version.pk,
            donor=version.donor,
            channel="worker",
            summary=f"rendered the PDF of suitability report version {version.number} ({len(data)} bytes)",
            changes={"pdf_sha256": version.pdf_sha256},
        )
        return True


def record_pdf_failure(*, version_id: int, reason: str) -> None:
    """A render that gave up leaves its reason on the version (the content stays as issued)."""
    with transaction.atomic():
        version = ReportVersion.objects.select_for_update().get(pk=version_id)
        if version.pdf_state == ReportVersion.PdfState.READY:
            return
        version.pdf_state = ReportVersion.PdfState.FAILED
        version.pdf_error = reason[:300]
        version.pdf_attempts += 1
        version.save(update_fields=["pdf_state", "pdf_error", "pdf_attempts"])


def _bounded_lock_wait() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '10s'")
