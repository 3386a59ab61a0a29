"""Celery tasks: thin wrappers that call a service."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from . import jobs

TRANSIENT = (OperationalError,)


@shared_task(
    bind=True,
    name="classification.classify_annotation",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=30,
    time_limit=60,
    autoretry_for=TRANSIENT,
    max_retries=3,
    retry_backoff=True,
)
def classify_annotation_task(self, annotation_id: int) -> bool:
    try:
        return jobs.classify_annotation(annotation_id=annotation_id) is not None
    except SoftTimeLimitExceeded:
        jobs.record_classification_failure(
            annotation_id=annotation_id, reason="classification took too long; save the anatomy again to retry"
        )
        return False


@shared_task(
    bind=True,
    name="classification.classify_annotations",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=180,
    autoretry_for=TRANSIENT,
    max_retries=3,
    retry_backoff=True,
)
def classify_annotations_task(self, annotation_ids: list[int]) -> int:
    """Bulk re-classification: one task per batch keeps broker and commit overhead small."""
    return jobs.classify_annotations(annotation_ids=annotation_ids)
