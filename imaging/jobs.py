"""What the imaging worker does: the services its tasks call.

Apart from services.py, which queues these jobs, so that services -> tasks -> jobs runs one way."""

from __future__ import annotations

from django.conf import settings

from . import ingest, proposals, rendering
from .models import Series, UploadFile


def ingest_upload(*, upload_id: int, time_budget: float | None = None, channel: str = "worker") -> str:
    """Import what is left of the upload, then render its series. Returns an `ingest` outcome.

    Safe to call again at any time: a finished upload is left alone, and a resumed one
    continues where the last run stopped.
    """
    result = ingest.run_ingest(upload_id=upload_id, time_budget=time_budget, channel=channel)
    for series, slices, mip in result.series:  # as the import left them: nothing to read again
        rendering.render(series, instances=slices, mip=mip)
    return result.outcome


def render_upload_series(*, upload_id: int) -> list[int]:
    """Render every series this upload added to that is not rendered for its current instances."""
    added_to = UploadFile.objects.filter(upload_id=upload_id, outcome=UploadFile.Outcome.ACCEPTED).values("series_id")
    rendered = []
    for series in Series.objects.filter(pk__in=added_to).select_related("study").order_by("pk"):
        if rendering.needs_render(series):
            rendering.render(series)
            rendered.append(series.pk)
    return rendered


def fail_upload(*, upload_id: int, reason: str) -> None:
    ingest.fail_upload(upload_id=upload_id, reason=reason)


def upload_series_ids(*, upload_id: int) -> list[int]:
    """The series this upload added files to."""
    added_to = UploadFile.objects.filter(upload_id=upload_id, outcome=UploadFile.Outcome.ACCEPTED, series__isnull=False)
    return sorted(set(added_to.values_list("series_id", flat=True)))


def open_tree_proposals(*, series_ids: list[int]) -> list[int]:
    """Open a tree proposal for each ready 3D MRCP series among these (when proposing on ingest is on)."""
    if not settings.TREE_PROPOSAL_ON_INGEST:
        return []
    return proposals.open_for_ready_series(series_ids=series_ids)


def propose_tree(*, proposal_id: int) -> str:
    return proposals.run_proposal(proposal_id=proposal_id).state


def fail_tree_proposal(*, proposal_id: int, reason: str) -> None:
    proposals.fail_proposal(proposal_id=proposal_id, reason=reason)
