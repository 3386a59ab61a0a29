"""Celery tasks: thin wrappers that call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError

from . import jobs

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError,)


@shared_task(
    bind=True,
    name="reports.render_report_pdf",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=90,
    time_limit=120,
    autoretry_for=TRANSIENT,
    max_retries=3,
    retry_backoff=True,
)
def render_report_pdf_task(self, version_id: int) -> bool:
    """Render an issued report's PDF from its frozen content (idempotent: a ready PDF is kept)."""
    try:
        return jobs.render_pdf(version_id=version_id)
    except SoftTimeLimitExceeded:
        jobs.record_pdf_failure(version_id=version_id, reason="rendering the PDF took too long; render it again")
        return False
    except TRANSIENT:
        raise
    except Exception as error:  # noqa: BLE001 - recorded on the version for people to see
        log.exception("rendering the PDF of report version %s failed", version_id)
        jobs.record_pdf_failure(version_id=version_id, reason=f"the PDF could not be rendered: {error}")
        return False


@shared_task(
    bind=True,
    name="reports.send_to_pacs",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
    max_retries=None,  # counted against PACS_RETRIES below, so that the last failure is recorded
)
def send_to_pacs_task(self, send_id: int) -> bool:
    """C-STORE an issued report (its SR and PDF), or a final anatomy's SR alone, to the centre's PACS; a
    transient failure is tried again with a doubling wait, and the last one is recorded on the send."""
    try:
        return jobs.send_to_pacs(send_id=send_id)
    except jobs.PacsUnavailable as error:
        if self.request.retries >= settings.PACS_RETRIES:
            jobs.record_pacs_failure(send_id=send_id, reason=str(error))
            return False
        jobs.record_pacs_retry(send_id=send_id, reason=str(error))
        raise self.retry(exc=error, countdown=settings.PACS_RETRY_SECONDS * 2**self.request.retries) from None
    except SoftTimeLimitExceeded:
        jobs.record_pacs_failure(send_id=send_id, reason="sending took too long; send it again")
        return False
    except Exception as error:  # noqa: BLE001 - recorded on the send for people to see
        log.exception("PACS send %s failed", send_id)
        jobs.record_pacs_failure(send_id=send_id, reason=f"it could not be sent: {error}")
        return False
