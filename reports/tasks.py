"""Celery tasks: thin wrappers that call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
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
