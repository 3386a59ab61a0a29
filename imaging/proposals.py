"""The duct tree proposed from a donor's 3D MRCP series: which series get one, and making it.

The worker's side of `imaging.tree`: the series' stored slices are read in order, the pure
extractor proposes the tree, and the answer (or why there is none) is kept on a
`TreeProposal`. A proposal is never the anatomy; classification takes it into a draft.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.utils import timezone

from .dicom.geometry import Geometry
from .dicom.volume import stack
from .models import Series, TreeProposal
from .rendering import instance_pixels
from .slices import SLICE_FIELDS, geometry_of
from .tree import GRAFTS, propose_tree
from .tree_output import extractor_version, proposal_body

log = logging.getLogger(__name__)

# The proposal task's limits (seconds); a "running" mark older than the hard limit was left by a dead worker.
PROPOSAL_SOFT_SECONDS = 300
PROPOSAL_HARD_SECONDS = 360
# Fewer slices than this is no 3D volume to follow ducts through.
MIN_SLICES = 16


def why_not_proposable(series: Series) -> str:
    """Why no tree can be proposed from this series, in words (empty when one can)."""
    study = series.study
    if study.donor_id is None:
        return "the study is not filed under a donor"
    if not series.used_as_mrcp:
        return "the series is not used as the MRCP"
    if series.acquisition and series.acquisition.upper() != "3D":
        return f"the series is a {series.acquisition} acquisition; a tree is proposed from a 3D MRCP only"
    if series.slice_count < MIN_SLICES:
        return f"the series has {series.slice_count} slice(s); a 3D MRCP has at least {MIN_SLICES}"
    if series.render_state != Series.Render.DONE or not series.mip_path:
        return "the series has no MIP yet (its slices cannot be placed in 3D, or it is not rendered)"
    return ""


def open_proposal(*, series: Series, graft: str, requested_by=None) -> TreeProposal:
    """A new queued proposal for the series and graft; the one it replaces stays, no longer current.

    Call inside a transaction."""
    TreeProposal.objects.select_for_update().filter(series=series, graft=graft, current=True).update(current=False)
    return TreeProposal.objects.create(
        series=series, graft=graft, requested_by=requested_by, extractor_version=extractor_version()
    )


def open_for_ready_series(*, series_ids: list[int]) -> list[int]:
    """Open a proposal for each of these series that is a ready 3D MRCP of a donor and has no
    proposal made since it was last rendered (a repeated delivery opens nothing). Returns their ids."""
    opened = []
    for series in Series.objects.filter(pk__in=series_ids).select_related("study__donor").order_by("pk"):
        donor = series.study.donor
        if donor is None or why_not_proposable(series):
            continue
        graft = donor.planned_graft
        if graft not in GRAFTS:
            continue
        with transaction.atomic():
            locked = Series.objects.select_for_update().get(pk=series.pk)
            if TreeProposal.objects.filter(
                series=locked, graft=graft, current=True, created_at__gte=locked.updated_at
            ).exists():
                continue
            opened.append(open_proposal(series=locked, graft=graft).pk)
    return opened


def load_volume(series: Series) -> tuple[np.ndarray, list[Geometry]]:
    """The series' slices stacked in slice order (along the normal), one geometry each."""
    pixels: list[np.ndarray] = []
    geometries: list[Geometry] = []
    for instance in series.instances.only(*SLICE_FIELDS).order_by("slice_index", "pk"):
        for frame in instance.slice_frames():
            geometry = geometry_of(instance, frame)
            if geometry is None:
                raise ValueError(f"image {instance.sop_instance_uid} has no usable position and orientation")
            pixels.append(instance_pixels(instance, frame))
            geometries.append(geometry)
    return stack(pixels), geometries


def _finish(proposal_id: int, **values) -> TreeProposal:
    values["finished_at"] = timezone.now()
    TreeProposal.objects.filter(pk=proposal_id).update(**values)
    return TreeProposal.objects.get(pk=proposal_id)


def fail_proposal(*, proposal_id: int, reason: str) -> TreeProposal:
    return _finish(proposal_id, state=TreeProposal.State.FAILED, reason=reason[:300])


def run_proposal(*, proposal_id: int) -> TreeProposal:
    """Propose the tree for a queued proposal (the task). A proposal already made, or being made
    by a live worker, is left alone, so a second delivery does nothing."""
    with transaction.atomic():
        proposal = TreeProposal.objects.select_for_update().select_related("series__study").get(pk=proposal_id)
        stale = timezone.now() - timedelta(seconds=PROPOSAL_HARD_SECONDS)
        running_alive = proposal.state == TreeProposal.State.RUNNING and (proposal.started_at or stale) > stale
        if proposal.state in (TreeProposal.State.READY, TreeProposal.State.FAILED) or running_alive:
            return proposal
        proposal.state = TreeProposal.State.RUNNING
        proposal.started_at = timezone.now()
        proposal.extractor_version = extractor_version()
        proposal.save(update_fields=["state", "started_at", "extractor_version"])
    series = proposal.series
    reason = why_not_proposable(series)
    if reason:
        return fail_proposal(proposal_id=proposal_id, reason=f"no tree proposed: {reason}")
    try:
        volume, geometries = load_volume(series)
        found = propose_tree(volume, geometries, graft=proposal.graft)
    except SoftTimeLimitExceeded:
        raise
    except ValueError as error:
        return fail_proposal(proposal_id=proposal_id, reason=f"no tree found: {error}")
    except Exception as error:  # noqa: BLE001 - recorded on the proposal for the radiologist to see
        log.exception("proposing the tree of series %s failed", series.pk)
        return fail_proposal(
            proposal_id=proposal_id,
            reason=f"the extraction stopped on an unexpected error ({type(error).__name__}); ask for a new proposal",
        )
    body = proposal_body(
        graft=proposal.graft,
        state=TreeProposal.State.READY,
        extractor_version=proposal.extractor_version,
        document=found.document,
        duct_confidence=found.duct_confidence,
        junction_confidence=found.junction_confidence,
        centrelines=found.centrelines,
    )
    return _finish(
        proposal_id,
        state=TreeProposal.State.READY,
        reason="",
        document=body["document"],
        duct_confidence=body["duct_confidence"],
        junction_confidence=body["junction_confidence"],
        centrelines=body["centrelines"],
    )


def body_of(proposal: TreeProposal) -> dict:
    """The proposal in the shape the API and the `propose_anatomy` command share."""
    return proposal_body(
        graft=proposal.graft,
        state=proposal.state,
        reason=proposal.reason,
        extractor_version=proposal.extractor_version,
        document=proposal.document,
        duct_confidence=proposal.duct_confidence or {},
        junction_confidence=proposal.junction_confidence or {},
        centrelines=proposal.centrelines or {},
        proposal_id=proposal.pk,
        series_id=proposal.series_id,
        created_at=proposal.created_at.isoformat() if proposal.created_at else None,
    )
