"""Pages: a donor's suitability report, issued versions and their PDF, the cohort statistics."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from classification.models import Annotation
from core.audit import actor_from_request
from core.errors import IllegalState
from core.roles import Action, may
from donors import selectors as donor_selectors
from donors.services import require
from imaging.selectors import identity_blockers, mrcp_mip_series

from . import cohort, selectors, services
from .api import pdf_response
from .content import report_content

PAGE_LAYOUT = "base.html"


def _actor(request, channel: str = "page"):
    return actor_from_request(request, channel=channel)


def _report_context(request, actor, donor, **extra) -> dict:
    content = report_content(donor)
    versions = selectors.versions_of(donor=donor)
    return {
        "layout": PAGE_LAYOUT,
        "c": content,
        "pdf": False,
        "donor": donor,
        "mip_src": reverse("reports:mip", args=[donor.pk]) if content["biliary"].get("mip") else "",
        "versions": versions,
        "may_issue": may(actor.roles, Action.ISSUE_REPORT),
        "identity_blockers": identity_blockers(donor),
        "latest_version": versions[0] if versions else None,
        "changes_since": selectors.record_changes_since(donor=donor, version=versions[0] if versions else None),
    } | extra


@login_required
@require_GET
def donor_report(request, pk):
    actor = _actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.VIEW_REPORT)
    context = _report_context(request, actor, donor)
    services.record_report_read(actor=actor, donor=donor)
    return render(request, "reports/report.html", context)


@login_required
@require_POST
def issue(request, pk):
    actor = _actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.ISSUE_REPORT)
    try:
        version = services.issue_report(actor=actor, donor=donor)
    except IllegalState as error:
        context = _report_context(request, actor, donor, issue_error=error.message)
        return render(request, "reports/report.html", context, status=error.status_code)
    messages.success(request, f"Issued report version {version.number} for {donor.code}; its PDF is being prepared.")
    return redirect("reports:version", pk=version.pk)


def _png(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response


@login_required
@require_GET
def donor_mip(request, pk):
    """The MIP of the donor's MRCP series as the current report shows it."""
    actor = _actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.VIEW_REPORT)
    study_uid = Annotation.objects.filter(donor=donor).values_list("study_uid", flat=True).first() or ""
    series = mrcp_mip_series(donor=donor, study_uid=study_uid)
    if series is None or not series.mip_path:
        raise Http404("no MRCP MIP for this donor")
    with default_storage.open(series.mip_path, "rb") as handle:
        data = handle.read()
    _record_image_read(actor, donor, series)
    return _png(data)


def _record_image_read(actor, donor, series) -> None:
    try:
        from imaging.selectors import record_image_read
    except ImportError:
        services.record_report_read(actor=actor, donor=donor, what="MRCP MIP of the suitability report")
        return
    record_image_read(actor=actor, donor=donor, record=series, what="MRCP MIP (suitability report)")


@login_required
@require_GET
def version_page(request, pk):
    actor = _actor(request)
    version = selectors.version_for(actor=actor, pk=pk)
    services.record_version_read(actor=actor, version=version)
    withdrawn = selectors.mip_withdrawn(version)
    versions = selectors.versions_of(donor=version.donor)
    context = {
        "layout": PAGE_LAYOUT,
        "c": version.content,
        "pdf": False,
        "donor": version.donor,
        "version": version,
        "mip_src": reverse("reports:version-mip", args=[version.pk]) if version.mip_path and not withdrawn else "",
        "mip_withdrawn": withdrawn,
        "versions": versions,
        "may_issue": may(actor.roles, Action.ISSUE_REPORT),
        "latest_version": versions[0],
        "changes_since": selectors.record_changes_since(donor=version.donor, version=version),
        "pacs_destination": selectors.pacs_destination_of(version.donor),
        "pacs_sends": selectors.pacs_sends_of(version),
    }
    return render(request, "reports/report.html", context)


@login_required
@require_GET
def version_mip(request, pk):
    actor = _actor(request)
    version = selectors.version_for(actor=actor, pk=pk)
    data = selectors.stored_mip(version)
    if data is None:
        raise Http404("this report was issued without an MRCP image")
    services.record_version_read(actor=actor, version=version, what="MRCP image")
    return _png(data)


@login_required
@require_GET
def version_pdf(request, pk):
    actor = _actor(request, channel="download")
    version = selectors.version_for(actor=actor, pk=pk)
    return pdf_response(actor, version)


@login_required
@require_POST
def retry_render(request, pk):
    actor = _actor(request)
    version = selectors.version_for(actor=actor, pk=pk, action=Action.ISSUE_REPORT)
    services.retry_pdf(actor=actor, version=version)
    messages.success(request, f"The PDF of report version {version.number} is being prepared again.")
    return redirect("reports:version", pk=version.pk)


@login_required
@require_POST
def send_to_pacs(request, pk):
    actor = _actor(request)
    version = selectors.version_for(actor=actor, pk=pk, action=Action.ISSUE_REPORT)
    try:
        send = services.send_to_pacs(actor=actor, version=version)
    except IllegalState as error:
        messages.error(request, error.message)
        return redirect("reports:version", pk=version.pk)
    messages.success(request, f"Report version {version.number} is being sent to PACS {send.destination}.")
    return redirect(reverse("reports:version", args=[version.pk]) + "#pacs")


@login_required
@require_POST
def send_anatomy_to_pacs(request, pk):
    """The anatomy page's "Send to PACS": back to that page, with the outcome in its PACS panel."""
    actor = _actor(request)
    annotation = selectors.annotation_for(actor=actor, pk=pk, action=Action.FINALISE_ANATOMY)
    page = reverse("classification:editor", args=[annotation.donor_id])
    try:
        send = services.send_anatomy_to_pacs(actor=actor, annotation=annotation)
    except IllegalState as error:
        messages.error(request, error.message)
        return redirect(page)
    messages.success(request, f"The biliary anatomy is being sent to PACS {send.destination}.")
    return redirect(page + "#pacs")


@login_required
@require_GET
def cohort_page(request):
    actor = _actor(request)
    require(actor, Action.VIEW_COHORT)
    stats = cohort.cohort_statistics(request.user.centre)
    return render(request, "reports/cohort.html", {"s": stats, "charts": cohort.charts(stats)})


@login_required
@require_GET
def cohort_csv(request):
    actor = _actor(request, channel="download")
    require(actor, Action.VIEW_COHORT)
    stats = cohort.cohort_statistics(request.user.centre)
    services.record_cohort_download(actor=actor, what="the cohort statistics (CSV)")
    response = HttpResponse(cohort.cohort_csv(stats), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cohort-{request.user.centre.code}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
