"""Pages: the radiologist's anatomy editor and the surgeon's worklist and outcome form."""

from __future__ import annotations

import json
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core.audit import record_reads
from core.errors import DomainError, InvalidInput
from core.json_input import check_value
from core.pages import apply_errors, page_actor
from core.roles import Action, may
from core.templatetags.form_feedback import ErrorSummary, Problem
from donors import selectors as donor_selectors
from donors import services as donor_services
from donors.models import Graft
from donors.workflow import Status
from imaging import selectors as imaging_selectors
from imaging import services as imaging_services
from imaging.proposals import body_of, why_not_proposable
from imaging.selectors import donor_mrcp_series

from . import selectors, services
from .anatomy import AnatomyInvalid
from .document import load_json_document
from .forms import OutcomeForm
from .presets import PRESETS
from .provenance import EDITED, FROM_PROPOSAL


@login_required
@require_http_methods(["GET", "POST"])
def annotation_editor(request, pk):
    actor = page_actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk)
    annotation = selectors.annotation_of(actor=actor, donor=donor)
    errors: dict[str, list[str]] = {}
    document = annotation.document if annotation else None
    status = 200
    if request.method == "POST":
        donor_services.require(actor, Action.RECORD_ANATOMY)
        raw = request.POST.get("document", "")
        try:
            document = load_json_document(raw)
            check_value(document, name="document")  # nested too deep, or NUL characters
        except AnatomyInvalid as invalid:
            errors = services.errors_by_field(invalid.errors)
            document = None
        except InvalidInput as error:
            errors = error.fields
            document = None
        if not errors:
            version = request.POST.get("version")
            try:
                saved = services.save_annotation(
                    actor=actor,
                    donor=donor,
                    document=document,
                    expected_version=int(version) if version and version.isdigit() else None,
                    study_uid=request.POST.get("study_uid", ""),
                    series_id=request.POST.get("series", "").strip() or None,
                )
            except DomainError as error:
                errors = error.fields or {"document": [error.message]}
                status = error.status_code
            else:
                next_step = " Mark it final once it is classified." if saved.state == saved.State.DRAFT else ""
                messages.success(
                    request,
                    f"Saved the biliary anatomy of {donor.code} "
                    f"(revision {saved.revision}, {saved.get_state_display().lower()}).{next_step}",
                )
                return redirect("classification:editor", pk=donor.pk)
        else:
            status = 400
    else:
        donor_services.record_donor_read(actor=actor, donor=donor, what="biliary anatomy page")
    return _editor_page(request, actor, donor, annotation, document=document, errors=errors, status=status)


def _editor_page(
    request, actor, donor, annotation, *, document, errors: dict, status: int, take_errors: dict | None = None
):
    """The anatomy page; a refused save or take shows its problems in the error summary, each naming its field."""
    run = selectors.current_run(annotation) if annotation else None
    series_choices, read_on = selectors.anatomy_series(donor, annotation)
    proposal_context = _proposal_context(actor, donor, annotation, read_on, series_choices)
    summary: ErrorSummary | None
    if take_errors:
        summary = _take_problems(take_errors, proposal_context.get("proposal_rows", []))
        summary_name = "ducts taken from the proposal"
    else:
        summary, summary_name = _save_problems(errors), "biliary anatomy"
    context = {
        "series_choices": series_choices,
        "read_on": read_on,
        "chosen_series": request.POST.get("series", "")
        if request.method == "POST" and not take_errors
        else str(read_on.pk if read_on else ""),
        "donor": donor,
        "annotation": annotation,
        "run": run,
        "results": {r.system: r for r in run.results.all()} if run else {},
        "document": document,
        "document_json": json.dumps(document) if document is not None else "",
        "presets": {name: {"label": p["label"], "document": p["document"]} for name, p in PRESETS.items()},
        "errors": errors,
        "errors_json": json.dumps(errors),
        "error_summary": summary,
        "error_summary_name": summary_name,
        "may_edit": may(actor.roles, Action.RECORD_ANATOMY),
        "may_finalise": may(actor.roles, Action.FINALISE_ANATOMY),
        "may_view_images": may(actor.roles, Action.VIEW_IMAGES),
        **proposal_context,
    }
    return render(request, "classification/editor.html", context, status=status)


# The editor's columns, as its error summary names them (annotation.js gives the cells the same names).
DUCT_FIELD_LABELS = {
    "id": "Duct",
    "drains_into": "Drains into",
    "segments": "Segments",
    "length_mm": "Length mm",
    "junction_mm": "Junction mm",
    "course": "Course",
}
# Problems of the whole anatomy: where they are fixed on the page, and what the summary calls them.
DOCUMENT_FIELDS = {
    "document.graft": ("graft", "Graft"),
    "document.notes": ("notes", "Notes"),
    "series": ("series", "Read on the MRCP series"),
    "document.ducts": ("", "Ducts"),
    "document": ("", ""),
    "version": ("", ""),
}


def _save_problems(errors: dict[str, list[str]]) -> ErrorSummary | None:
    """A refused save's problems: one line per reason, linked to the editor's control for its field."""
    problems = []
    for key, reasons in errors.items():
        if key in DOCUMENT_FIELDS:
            target, label = DOCUMENT_FIELDS[key]
        else:
            duct_id, _, field = key.partition(".")
            field = field or "id"
            target = f"duct-{quote(duct_id)}-{field}" if field in DUCT_FIELD_LABELS else ""
            label = f"{duct_id}, {DUCT_FIELD_LABELS.get(field, field.replace('_', ' '))}"
        problems += [Problem(target, label, reason) for reason in reasons]
    return ErrorSummary(problems) if problems else None


def _take_problems(errors: dict[str, list[str]], rows: list[dict]) -> ErrorSummary:
    """A refused take's problems, linked to the proposal's tick box for the duct at fault."""
    offered = [row["id"] for row in rows]
    problems = []
    for key, reasons in errors.items():
        duct_id, _, field = key.partition(".")
        if key == "ducts":
            target, label = (f"take-{quote(offered[0])}" if offered else ""), "Ducts to take"
        elif key == "proposal":
            target, label = "", "Proposal"
        elif key in DOCUMENT_FIELDS:
            target, label = DOCUMENT_FIELDS[key]
        else:
            target = f"take-{quote(duct_id)}" if duct_id in offered else ""
            label = f"{duct_id}, {DUCT_FIELD_LABELS.get(field or 'id', field.replace('_', ' '))}"
        problems += [Problem(target, label, reason) for reason in reasons]
    return ErrorSummary(problems)


def _proposal_context(actor, donor, annotation, read_on, series_choices) -> dict:
    """The proposed tree beside the editor: of the series the anatomy is read on, else the newest."""
    if not may(actor.roles, Action.VIEW_IMAGES):
        return {"show_proposal": False}
    series = read_on or (series_choices[0] if series_choices else None)
    proposal = imaging_selectors.donor_tree_proposal_to_show(donor=donor, series=read_on)
    # A proposal for the graft planned before is shown as it was, to be asked for again: never taken.
    stale = proposal is not None and proposal.graft != donor.planned_graft
    if proposal is not None:
        series = proposal.series
    stored = annotation.provenance.get("ducts", {}) if annotation else {}
    in_draft = {duct.get("id") for duct in annotation.document.get("ducts", [])} if annotation else set()
    rows = []
    body = body_of(proposal) if proposal is not None else {"id": None, "ducts": []}
    for duct in body["ducts"]:
        entry = stored.get(duct["id"], {})
        if entry.get("source") == FROM_PROPOSAL:
            words = "taken" + (f" from proposal {entry['proposal']}" if entry.get("proposal") != body["id"] else "")
        elif entry.get("source") == EDITED:
            words = f"taken, then edited by {entry.get('edited_by', 'hand')}"
        elif duct["id"] in in_draft:
            words = "drawn by hand"
        else:
            words = "not in the draft"
        rows.append({**duct, "in_draft": words})
    return {
        "show_proposal": True,
        "proposal": proposal,
        "proposal_rows": rows,
        "proposal_undrained": body.get("undrained_segments", []),
        "proposal_graft": _graft_words(proposal.graft) if proposal else "",
        "proposal_stale": bool(stale),
        "planned_graft": _graft_words(donor.planned_graft),
        "may_take": may(actor.roles, Action.RECORD_ANATOMY) and not stale,
        "proposal_series": series,
        "proposal_why": why_not_proposable(series) if series is not None else "the donor has no MRCP series yet",
    }


def _graft_words(graft: str) -> str:
    """'right lobe' for 'right_lobe', as a sentence says it."""
    return Graft(graft).label.split(" (")[0].lower() if graft in Graft.values else graft.replace("_", " ")


@login_required
@require_POST
def take_proposal(request, pk):
    """Take the proposed tree into the draft: whole, or the ducts ticked."""
    actor = page_actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.RECORD_ANATOMY)
    proposal = imaging_selectors.tree_proposal_for(
        actor=actor, pk=request.POST.get("proposal", ""), action=Action.RECORD_ANATOMY
    )
    whole = request.POST.get("whole") == "1"
    version = request.POST.get("version", "")
    try:
        taken = services.take_tree_proposal(
            actor=actor,
            donor=donor,
            proposal=proposal,
            duct_ids=None if whole else request.POST.getlist("ducts"),
            expected_version=int(version) if version.isdigit() else None,
        )
    except DomainError as error:
        # The page again, with what stopped the take in its error summary; the draft is unchanged.
        annotation = selectors.annotation_of(actor=actor, donor=donor)
        return _editor_page(
            request,
            actor,
            donor,
            annotation,
            document=annotation.document if annotation else None,
            errors={},
            status=error.status_code,
            take_errors=error.fields or {"proposal": [error.message]},
        )
    what = "the whole proposal" if whole else ", ".join(request.POST.getlist("ducts"))
    messages.success(
        request,
        f"Took {what} into the draft anatomy of {donor.code} (revision {taken.revision}). "
        "Check each duct on the images, edit what is wrong, then mark the anatomy final.",
    )
    return redirect("classification:editor", pk=donor.pk)


@login_required
@require_POST
def request_proposal(request, pk):
    actor = page_actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.RECORD_ANATOMY)
    series = donor_mrcp_series(donor=donor, series_id=request.POST.get("series", ""))
    try:
        imaging_services.request_tree_proposal(actor=actor, series=series)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The duct tree is being proposed; reload the page in a minute.")
    return redirect("classification:editor", pk=donor.pk)


@login_required
@require_POST
def finalise(request, pk):
    actor = page_actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.FINALISE_ANATOMY)
    annotation = selectors.annotation_of(actor=actor, donor=donor)
    if annotation is None:
        return render(request, "error.html", {"status": 409, "message": "no anatomy recorded yet"}, status=409)
    version = request.POST.get("version", "")
    final = services.finalise_annotation(
        actor=actor, annotation=annotation, expected_version=int(version) if version.isdigit() else None
    )
    messages.success(
        request,
        f"Marked the biliary anatomy of {donor.code} final (revision {final.revision}); "
        "it now counts for the decision, the report and the surgical worklist.",
    )
    return redirect("classification:editor", pk=donor.pk)


@login_required
def worklist(request):
    actor = page_actor(request)
    rows = selectors.surgical_worklist(actor=actor)
    record_reads(actor=actor, donors=[row["donor"] for row in rows], summary="surgical worklist (page)")
    return render(request, "classification/worklist.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def outcome(request, pk):
    actor = page_actor(request)
    donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.RECORD_OUTCOME)
    existing = selectors.outcome_of(donor=donor)
    donated_before = donor.status == Status.DONATED
    form = OutcomeForm(
        request.POST or None, instance=existing, initial={"version": existing.version if existing else None}
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            values = {k: v for k, v in form.cleaned_data.items() if k != "version"}
            try:
                services.record_outcome(
                    actor=actor, donor=donor, values=values, expected_version=form.cleaned_data.get("version")
                )
            except DomainError as error:
                apply_errors(form, error)
                status = error.status_code
            else:
                moved = "" if donated_before else f"; {donor.code} is now donated"
                messages.success(request, f"Saved the surgical outcome of {donor.code}{moved}.")
                return redirect("classification:worklist")
    else:
        donor_services.record_donor_read(actor=actor, donor=donor, what="surgical outcome form")
    annotation = selectors.annotation_of(actor=actor, donor=donor)
    result = selectors.live_result(donor=donor, annotation=annotation) if annotation else None
    context = {"form": form, "donor": donor, "result": result, "first_record": not donated_before}
    return render(request, "classification/outcome.html", context, status=status)
