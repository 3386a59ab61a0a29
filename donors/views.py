"""Coordinator pages. Views parse and render; services decide and write."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from core.audit import record_reads
from core.errors import DomainError, InvalidInput
from core.pages import BoundedPaginator, apply_errors, page_actor
from core.roles import Action, Role, may

from . import selectors, services
from .forms import AuditSearchForm, DonorForm, DonorSearchForm, RecipientForm, TransitionForm
from .workflow import Status, allowed_targets


@login_required
def home(request):
    """Each user's first page is the worklist of their roles; a hospital system's account, which has
    none, gets the donor list (or the audit trail)."""
    user_roles = request.user.role_set
    if user_roles - {Role.INTEGRATION_CLIENT}:
        return redirect("workup:worklist")
    if not may(user_roles, Action.VIEW_DONOR) and may(user_roles, Action.VIEW_AUDIT):
        return redirect("donors:audit")
    return redirect("donors:list")


@login_required
def donor_list(request):
    actor = page_actor(request)
    search = DonorSearchForm(request.GET or None)
    filters = search.cleaned_data if search.is_valid() else {}
    donors = selectors.donor_list(
        actor=actor,
        search=filters.get("q", ""),
        status=filters.get("status", ""),
        graft=filters.get("graft", ""),
        abo=filters.get("abo", ""),
    ).select_related("recipient")
    page = Paginator(donors, 25).get_page(request.GET.get("page"))
    record_reads(actor=actor, donors=list(page.object_list), summary="listed donors (page)")
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "donors/list.html", {"page": page, "search": search, "query": query.urlencode()})


@login_required
@require_http_methods(["GET", "POST"])
def donor_create(request):
    actor = page_actor(request)
    services.require(actor, Action.CREATE_DONOR)
    form = DonorForm(request.POST or None, centre_id=actor.centre_id, initial=_recipient_chosen(request, actor))
    if request.method == "POST" and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        try:
            donor = services.create_donor(actor=actor, values=values)
        except InvalidInput as error:
            apply_errors(form, error)
        else:
            messages.success(
                request, f"Added donor {donor.code}. Next: move the donor into evaluation when the workup starts."
            )
            return redirect("donors:detail", pk=donor.pk)
    return render(
        request,
        "donors/form.html",
        {"form": form, "title": "New donor", "form_name": "new donor"},
        status=400 if form.errors else 200,
    )


def _recipient_chosen(request, actor) -> dict:
    """The recipient named in the address (just added), if it is one of the user's centre."""
    raw = request.GET.get("recipient", "")
    if not raw.isdigit() or not selectors.recipient_list(actor=actor).filter(pk=int(raw)).exists():
        return {}
    return {"recipient": int(raw)}


@login_required
@require_http_methods(["GET", "POST"])
def donor_edit(request, pk):
    actor = page_actor(request)
    donor = selectors.donor_for(actor=actor, pk=pk, action=Action.EDIT_DEMOGRAPHICS)
    form = DonorForm(
        request.POST or None, instance=donor, centre_id=actor.centre_id, initial={"version": donor.version}
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            values = {k: v for k, v in form.cleaned_data.items() if k != "version"}
            try:
                services.update_donor(
                    actor=actor, donor=donor, expected_version=form.cleaned_data.get("version"), values=values
                )
            except DomainError as error:
                apply_errors(form, error)
                status = error.status_code
            else:
                messages.success(request, f"Saved the details of donor {donor.code}.")
                return redirect("donors:detail", pk=donor.pk)
    else:
        services.record_donor_read(actor=actor, donor=donor, what="donor edit form")
    return render(
        request,
        "donors/form.html",
        {"form": form, "title": f"Edit {donor.code}", "donor": donor, "form_name": "donor"},
        status=status,
    )


@login_required
def donor_detail(request, pk):
    actor = page_actor(request)
    donor = selectors.donor_for(actor=actor, pk=pk)
    services.record_donor_read(actor=actor, donor=donor)
    targets = allowed_targets(donor.status)
    context = {
        "donor": donor,
        "history": selectors.status_history(donor=donor),
        "transition_form": TransitionForm(targets=targets, initial={"version": donor.version}),
        "status_label": Status(donor.status).label,
    }
    return render(request, "donors/detail.html", context)


@login_required
@require_POST
def donor_transition(request, pk):
    actor = page_actor(request)
    donor = selectors.donor_for(actor=actor, pk=pk, action=Action.CHANGE_STATUS)
    # Any status reaches the service, so a refused one gets the workflow's reason (what is missing
    # and who resolves it) rather than a bare "not a valid choice"; the form then offers the allowed ones.
    form = TransitionForm(request.POST, targets=list(Status))
    status = 400
    if form.is_valid():
        try:
            services.transition_donor(
                actor=actor,
                donor=donor,
                to_status=form.cleaned_data["to_status"],
                reason=form.cleaned_data["reason"],
                expected_version=form.cleaned_data["version"],
            )
        except DomainError as error:
            apply_errors(form, error)
            status = error.status_code
        else:
            new_status = Status(form.cleaned_data["to_status"]).label.lower()
            messages.success(request, f"Moved {donor.code} to {new_status}.")
            return redirect("donors:detail", pk=donor.pk)
    allowed = TransitionForm(targets=allowed_targets(donor.status)).fields["to_status"]
    cast(forms.ChoiceField, form.fields["to_status"]).choices = cast(forms.ChoiceField, allowed).choices
    context = {
        "donor": donor,
        "history": selectors.status_history(donor=donor),
        "transition_form": form,
        "status_label": Status(donor.status).label,
    }
    return render(request, "donors/detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def recipient_create(request):
    actor = page_actor(request)
    services.require(actor, Action.EDIT_RECIPIENT)
    form = RecipientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            recipient = services.create_recipient(actor=actor, values=form.cleaned_data)
        except InvalidInput as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Added recipient {recipient.code}; it is chosen on this new donor form.")
            return redirect(reverse("donors:create") + f"?recipient={recipient.pk}")
    return render(
        request,
        "donors/form.html",
        {"form": form, "title": "New recipient", "form_name": "new recipient"},
        status=400 if form.errors else 200,
    )


@login_required
def audit_trail(request):
    actor = page_actor(request)
    form = AuditSearchForm(request.GET or None)
    criteria = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_trail(
        actor=actor,
        donor_code=criteria.get("donor_code", ""),
        username=criteria.get("username", ""),
        date_from=criteria.get("date_from"),
        date_to=criteria.get("date_to"),
        kind=criteria.get("kind", ""),
    )
    page = BoundedPaginator(events, 50).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)  # the page as it was before this view of it is recorded
    services.record_audit_trail_read(actor=actor, filters=criteria, page=page.number)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "donors/audit.html", {"form": form, "page": page, "query": query.urlencode()})
