"""Celery tasks: thin wrappers that call a service.

The import runs for at most `INGEST_TIME_BUDGET` seconds per task, then commits and queues
its own continuation, so a large upload never runs into the time limits or the broker's
visibility timeout. A task that finds another worker importing the same upload retries
later (the other worker may die; its lease then runs out and this task takes over).
"""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from . import ingest, jobs, proposals, rendering

TRANSIENT = (OperationalError,)
INGEST_TIME_BUDGET = 240


@shared_task(
    bind=True,
    name="imaging.ingest_upload",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=INGEST_TIME_BUDGET + 60,
    time_limit=INGEST_TIME_BUDGET + 120,
    autoretry_for=TRANSIENT,
    max_retries=5,
    retry_backoff=True,
)
def ingest_upload_task(self, upload_id: int) -> str:
    try:
        outcome = jobs.ingest_upload(upload_id=upload_id, time_budget=INGEST_TIME_BUDGET)
    except SoftTimeLimitExceeded:
        # The run gave its lease back and kept every committed file: continue in a new task.
        ingest_upload_task.apply_async(args=[upload_id], countdown=1)
        return ingest.MORE
    except TRANSIENT:
        raise
    except Exception as error:
        jobs.fail_upload(
            upload_id=upload_id,
            reason=f"the import stopped on an unexpected error ({type(error).__name__}); "
            "the files imported so far are kept; upload the rest again",
        )
        raise
    if outcome == ingest.BUSY:
        raise self.retry(countdown=ingest.lease_seconds(), max_retries=20)
    if outcome == ingest.MORE:
        ingest_upload_task.delay(upload_id)
    elif outcome == ingest.FINISHED:
        # A repeated delivery: the import is done. Render anything a crash left unrendered.
        jobs.render_upload_series(upload_id=upload_id)
    if outcome in (ingest.DONE, ingest.FINISHED):
        queue_tree_proposals(jobs.upload_series_ids(upload_id=upload_id))
    return outcome


@shared_task(
    bind=True,
    name="imaging.render_series",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=rendering.RENDER_STALE_SECONDS,
    autoretry_for=TRANSIENT,
    max_retries=3,
    retry_backoff=True,
)
def render_series_task(self, series_id: int) -> str:
    series = rendering.render_series(series_id=series_id)
    queue_tree_proposals([series.pk])
    return series.render_state


def queue_tree_proposals(series_ids: list[int]) -> list[int]:
    """Propose the duct tree of each of these series that is a ready 3D MRCP of a donor (once per render)."""
    opened = jobs.open_tree_proposals(series_ids=series_ids)
    for proposal_id in opened:
        propose_tree_task.delay(proposal_id)
    return opened


@shared_task(
    bind=True,
    name="imaging.propose_tree",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=proposals.PROPOSAL_SOFT_SECONDS,
    time_limit=proposals.PROPOSAL_HARD_SECONDS,
    autoretry_for=TRANSIENT,
    max_retries=3,
    retry_backoff=True,
)
def propose_tree_task(self, proposal_id: int) -> str:
    try:
        return jobs.propose_tree(proposal_id=proposal_id)
    except SoftTimeLimitExceeded:
        jobs.fail_tree_proposal(
            proposal_id=proposal_id,
            reason=f"no tree found: the extraction took longer than {proposals.PROPOSAL_SOFT_SECONDS} s",
        )
        return "failed"
