"""Pages (upload, report, viewer) and the only ways pictures and DICOM files leave the server.

Every picture is served here after the role and centre checks, never from MEDIA_URL, and
audited as a read of the donor's record (see `selectors` for how reads are aggregated).
"""

from __future__ import annotations

import hashlib
import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from core.errors import InvalidInput, NotFound
from core.pages import page_actor
from core.roles import Action, may
from donors import selectors as donor_selectors
from donors import services as donor_services

from . import rendering, selectors, services
from .models import Series

IMAGE_CACHE_SECONDS = 3600


@login_required
@require_GET
def upload_page(request, pk):
    actor = page_actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.UPLOAD_IMAGES)
    donor_services.record_donor_read(actor=actor, donor=donor, what="DICOM upload page")
    context = {
        "donor": donor,
        "uploads": selectors.uploads_of(donor=donor),
        "limits": {
            "files": settings.DICOM_MAX_FILES,
            "upload_mb": settings.DICOM_MAX_UPLOAD_BYTES // 1024**2,
            "file_mb": settings.DICOM_MAX_FILE_BYTES // 1024**2,
            "frame_mb": settings.DICOM_MAX_FRAME_BYTES // 1024**2,
        },
    }
    return render(request, "imaging/upload.html", context)


@login_required
@require_GET
def upload_report(request, pk):
    actor = page_actor(request)
    upload = selectors.upload_for(actor=actor, pk=pk)
    if upload.donor is not None:
        donor_services.record_donor_read(actor=actor, donor=upload.donor, what=f"DICOM upload {upload.pk} report")
    else:  # studies received for the centre that name no single donor
        selectors.record_image_read(actor=actor, donor=None, record=upload, what=f"DICOM upload {upload.pk} report")
    files = list(upload.files.all())
    context = {
        "upload": upload,
        "donor": upload.donor,
        "files": [f for f in files if f.outcome != "accepted" or f.warnings]
        + [f for f in files if f.outcome == "accepted" and not f.warnings],
        "series": selectors.upload_series(upload) if upload.finished else [],
    }
    return render(request, "imaging/upload_report.html", context)


@login_required
@require_GET
def viewer(request, pk):
    actor = page_actor(request)
    series = selectors.series_for(actor=actor, pk=pk)
    study, donor = series.study, series.study.donor
    selectors.record_series_read(actor=actor, series=series, what=f"MRCP viewer, series {series.pk}")
    measurements = list(selectors.measurements_of(donor=donor, series=series)) if donor else []
    proposal = selectors.current_tree_proposal(series=series, graft=donor.planned_graft) if donor else None
    tree = selectors.tree_overlay(proposal) if proposal is not None else {"ducts": []}
    config = {
        "seriesId": series.pk,
        "donorId": donor.pk if donor else None,
        "slices": series.slice_count,
        "initialSlice": max(series.slice_count - 1, 0) // 2,
        "sliceUrl": reverse("imaging:slice", args=[series.pk, 0]).replace("/0.png", "/{index}.png"),
        "mipUrl": reverse("imaging:mip", args=[series.pk]) if series.mip_path else "",
        "distanceUrl": reverse("api-series-distance", args=[series.pk]),
        "measurementsUrl": reverse("api-donor-measurements", args=[donor.pk]) if donor else "",
        "sliceWindow": series.slice_window or [500, 1000],
        "mipWindow": series.mip_window,
        "mipShape": series.mip_shape,
        "rows": series.rows,
        "columns": series.columns,
        "mayMeasure": may(actor.roles, Action.MEASURE_IMAGES) and study.reportable,
        "overlay": selectors.viewer_overlay(series),
        # The labels' font as a fraction of the MIP's width: their places were chosen for that size.
        "treeFont": tree["font"] / tree["width"] if tree.get("width") else 0,
        "tree": [
            {
                "id": d["id"],
                "points": d["mip_points"],
                "lengthMm": d["length_mm"],
                "uncertain": d["low_confidence"],
                "label": d["label"],
                "labelAt": d["label_mip"],
                "labelAnchor": d["label_anchor"],
            }
            for d in tree["ducts"]
        ],
        "measurements": [
            {"label": m.label, "lengthMm": round(m.length_mm, 1), "kind": m.kind, "points": m.points}
            for m in measurements
        ],
    }
    context = {
        "series": series,
        "study": study,
        "donor": donor,
        "config": config,
        "measurements": measurements,
        "other_series": Series.objects.filter(study__donor=donor).exclude(pk=series.pk).select_related("study")
        if donor
        else Series.objects.filter(study=study).exclude(pk=series.pk).select_related("study"),
        "may_override": may(actor.roles, Action.MEASURE_IMAGES),
        "not_measurable": selectors.why_not_measurable(series),
        "may_render_again": may(actor.roles, Action.UPLOAD_IMAGES) and rendering.needs_render(series),
        "may_resolve_identity": may(actor.roles, Action.RESOLVE_IMAGE_IDENTITY),
        "may_record_anatomy": may(actor.roles, Action.RECORD_ANATOMY),
        "tree_proposal": proposal,
    }
    return render(request, "imaging/viewer.html", context)


@login_required
@require_POST
def mrcp_override(request, pk):
    actor = page_actor(request)
    series = selectors.series_for(actor=actor, pk=pk, action=Action.MEASURE_IMAGES)
    choice = request.POST.get("mrcp", "")
    choices: dict[str, bool | None] = {"yes": True, "no": False, "auto": None}
    if choice not in choices:
        raise InvalidInput("choose yes, no or auto", fields={"mrcp": ["choose yes, no or auto"]})
    services.set_mrcp_override(actor=actor, series=series, mrcp=choices[choice])
    said = {"yes": "marked as MRCP", "no": "marked as not MRCP", "auto": "recognised from its header again"}[choice]
    messages.success(request, f"The series {series.description or series.pk} is {said}.")
    return redirect("imaging:viewer", pk=series.pk)


@login_required
@require_POST
def render_again(request, pk):
    actor = page_actor(request)
    series = selectors.series_for(actor=actor, pk=pk, action=Action.UPLOAD_IMAGES)
    services.render_again(actor=actor, series=series)
    messages.success(request, "The pictures of this series are being made again.")
    return redirect("imaging:viewer", pk=series.pk)


def _back(request, default: str):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


@login_required
@require_POST
def confirm_identity(request, pk):
    actor = page_actor(request)
    study = selectors.study_for(actor=actor, pk=pk, action=Action.RESOLVE_IMAGE_IDENTITY)
    services.confirm_identity(actor=actor, study=study, reason=request.POST.get("reason", ""))
    whose = f"{study.donor.code}'s" if study.donor is not None else "the donor's"
    messages.success(
        request, f"Confirmed the study as {whose}; its images can now be used for the anatomy and the report."
    )
    return _back(request, reverse("donors:detail", args=[study.donor_id]))


@login_required
@require_POST
def detach(request, pk):
    actor = page_actor(request)
    study = selectors.study_for(actor=actor, pk=pk, action=Action.RESOLVE_IMAGE_IDENTITY)
    donor_id = study.donor_id
    donor_code = study.donor.code if study.donor is not None else ""
    services.detach_study(actor=actor, study=study, reason=request.POST.get("reason", ""))
    messages.success(
        request,
        f"Detached the study from {donor_code or 'the donor'}; it is kept among the unmatched studies "
        "until it is attached to the right donor.",
    )
    return redirect("donors:detail", pk=donor_id) if donor_id else redirect("imaging:unmatched")


@login_required
@require_POST
def attach(request, pk):
    actor = page_actor(request)
    study = selectors.study_for(actor=actor, pk=pk, action=Action.RESOLVE_IMAGE_IDENTITY)
    donor = selectors.donor_to_attach(actor=actor, code=request.POST.get("donor", ""))
    attached = services.attach_study(actor=actor, study=study, donor=donor)
    check = (
        "its files still name someone else: confirm or detach it below"
        if attached.identity_open
        else "its identity matches the donor"
    )
    messages.success(request, f"Attached the study to {donor.code}; {check}.")
    return redirect("donors:detail", pk=donor.pk)


@login_required
@require_POST
def discard(request, pk):
    actor = page_actor(request)
    study = selectors.study_for(actor=actor, pk=pk, action=Action.RESOLVE_IMAGE_IDENTITY)
    uid = study.study_instance_uid
    services.discard_study(actor=actor, study=study, reason=request.POST.get("reason", ""))
    messages.success(request, f"Discarded study {uid}; its files are deleted.")
    return redirect("imaging:unmatched")


@login_required
@require_GET
def unmatched(request):
    actor = page_actor(request)
    studies = selectors.unmatched_studies(actor=actor)
    selectors.record_unmatched_list_read(actor=actor, count=len(studies))
    return render(request, "imaging/unmatched.html", {"studies": studies})


# ------------------------------------------------------------------ pictures and files


def _window(request) -> tuple[float | None, float | None]:
    raw_center, raw_width = request.GET.get("wc"), request.GET.get("ww")
    if raw_center is None and raw_width is None:
        return None, None
    try:
        center, width = float(raw_center), float(raw_width)
    except (TypeError, ValueError):
        raise InvalidInput("wc and ww must both be numbers", fields={"ww": ["a number"]}) from None
    if not (math.isfinite(center) and math.isfinite(width)) or width < 1:
        raise InvalidInput("ww must be at least 1", fields={"ww": ["at least 1"]})
    return round(center, 2), round(width, 2)


def _image(request, data_key: str, produce, content_type: str = "image/png", filename: str = ""):
    """Answer with the picture, letting the browser keep it (private) and revalidate by ETag."""
    etag = '"' + hashlib.sha256(data_key.encode()).hexdigest()[:32] + '"'
    response: HttpResponse
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(produce(), content_type=content_type)
        if filename:
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={IMAGE_CACHE_SECONDS}"
    return response


@login_required
@require_GET
def mip_image(request, pk):
    actor = page_actor(request)
    series = selectors.series_for(actor=actor, pk=pk)
    if not series.mip_path:
        raise NotFound("this series has no MIP")
    center, width = _window(request)
    selectors.record_image_read(
        actor=actor, donor=series.study.donor, record=series, what=f"MRCP images of series {series.pk}"
    )
    key = f"mip:{series.pk}:{series.mip_path}:{series.updated_at.isoformat()}:{center}:{width}"
    return _image(request, key, lambda: rendering.mip_png(series, center, width))


@login_required
@require_GET
def thumbnail_image(request, pk):
    actor = page_actor(request)
    series = selectors.series_for(actor=actor, pk=pk)
    if not series.thumbnail_path:
        raise NotFound("this series has no thumbnail yet")
    selectors.record_image_read(
        actor=actor, donor=series.study.donor, record=series, what=f"MRCP images of series {series.pk}"
    )
    key = f"thumb:{series.pk}:{series.thumbnail_path}:{series.updated_at.isoformat()}"
    return _image(request, key, lambda: rendering.stored_bytes(series.thumbnail_path))


@login_required
@require_GET
def slice_image(request, pk, index):
    actor = page_actor(request)
    instance, frame = selectors.slice_for(actor=actor, series_pk=pk, index=index)
    series = instance.series
    center, width = _window(request)
    if center is None or width is None:  # _window gives both or neither
        center, width = series.slice_window or (None, None)
    selectors.record_image_read(
        actor=actor, donor=series.study.donor, record=series, what=f"MRCP images of series {series.pk}"
    )
    key = f"slice:{instance.pk}:{frame}:{instance.file}:{center}:{width}"
    return _image(request, key, lambda: rendering.slice_png(instance, center, width, frame))


@login_required
@require_GET
def instance_file(request, pk):
    actor = page_actor(request)
    instance = selectors.instance_for(actor=actor, pk=pk)
    selectors.record_download(
        actor=actor, donor=instance.donor, record=instance, what=f"DICOM file {instance.sop_instance_uid}"
    )
    return _image(
        request,
        f"file:{instance.pk}:{instance.file}",
        lambda: rendering.stored_bytes(instance.file),
        content_type="application/dicom",
        filename=f"{instance.sop_instance_uid}.dcm",
    )
