"""The workup page (checklist, records, decision) and the centre's thresholds page.

Views parse and render; services decide and write. Every rendering of the workup page is
audited as a read of the donor's record.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from core.audit import record_reads
from core.errors import DomainError, NotPermitted
from core.pages import apply_errors, page_actor
from core.roles import Action, Role, may
from donors import selectors, services
from donors.workflow import Status

from . import criteria
from . import selectors as ws
from . import services as wsv
from . import worklists as wl
from .forms import RECORD_FORMS, DecisionForm, SignForm, ThresholdsForm
from .models import SIGNING_ROLES, CentreThresholds, DecisionState, SteatosisModality, Volumetry

# Fields shown for each record besides its date, author and note.
COMPUTED = {"steatosis": ("signal_fat_fraction_pct", "liver_attenuation_index")}


def _display(record, name: str):
    value = getattr(record, name)
    if value is None or value == "":
        return "—"
    getter = getattr(record, f"get_{name}_display", None)
    if getter is not None:
        return getter()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _rows(record, names) -> list[tuple[str, object]]:
    model = type(record)
    rows = []
    for name in names:
        if name in ("measured_on", "note", "modality", "clearance_kind") or getattr(record, name) in (None, ""):
            continue
        rows.append((model._meta.get_field(name).verbose_name, _display(record, name)))
    return rows


@dataclasses.dataclass
class Block:
    """One record kind on the page: the record that counts, the earlier ones, and the form."""

    key: str
    title: str
    noun: str
    owners: str
    latest: object
    rows: list
    earlier: list
    form: object
    action: str


def _blocks(request, actor, donor, evaluation: ws.Evaluation, bound: dict) -> list[Block]:
    thresholds = evaluation.thresholds
    blocks = []
    for key, (form_class, kind, sub) in RECORD_FORMS.items():
        spec = wsv.KINDS[kind]
        records = (
            spec.model._default_manager.filter(donor=donor)
            .select_related("recorded_by")
            .order_by("-recorded_at", "-pk")
        )
        if spec.sub_field:
            records = records.filter(**{spec.sub_field: sub})
        recent = list(records[:20])
        latest = recent[0] if recent else None
        names = [*spec.fields, *COMPUTED.get(kind, ())]
        form = None
        if may_record_page(actor, kind, sub):
            form = bound.get(key)
            if form is None:
                extra: dict[str, Any] = {}
                if kind == "steatosis":
                    extra["modality"] = sub
                elif kind == "clearances":
                    extra["clearance_kind"] = sub
                elif kind == "volumetry":
                    extra["density"] = (
                        latest.density_factor if isinstance(latest, Volumetry) else thresholds.graft_density
                    )
                    extra["recipient_weight"] = donor.recipient.weight_kg if donor.recipient_id else None
                form = form_class(latest=latest, prefix=key, **extra)
        blocks.append(
            Block(
                key=key,
                title=wsv.record_title(kind, sub),
                noun=wsv.record_noun(kind, sub),
                owners=_owners(kind, sub),
                latest=latest,
                rows=_rows(latest, names) if latest else [],
                earlier=[(r, _rows(r, names)) for r in recent[1:]],
                form=form,
                action=reverse("workup:workup_record", args=[donor.pk, key]),
            )
        )
    return blocks


def _owners(kind: str, sub: str | None) -> str:
    if kind == "steatosis" and sub != SteatosisModality.BIOPSY:
        return "radiologist"
    return wsv.KINDS[kind].owners


def may_record_page(actor, kind, sub) -> bool:
    return actor.user.centre_id is not None and wsv.may_record(actor.roles, kind, sub)


def _decision_context(actor, donor, evaluation, decision_form=None, sign_form=None) -> dict:
    decisions = list(ws.decisions_for(donor))
    current = next((d for d in decisions if d.decision_state != DecisionState.SUPERSEDED), None)
    signed = {s.signed_as: s for s in current.sign_offs.all()} if current else {}
    can_sign = []
    if (
        current is not None
        and current.decision_state == DecisionState.OPEN
        and not any(s.user_id == actor.user.pk for s in signed.values())
    ):
        can_sign = [r.value for r in wsv.signing_roles_of(actor.roles) if r.value not in signed]
    may_propose = may(actor.roles, Action.RECORD_DECISION) and donor.status == Status.IN_EVALUATION
    if decision_form is None and may_propose:
        replaces = current.pk if current and current.decision_state == DecisionState.OPEN else None
        decision_form = DecisionForm(initial={"replaces": replaces})
    if sign_form is None and can_sign and current is not None:  # can_sign implies an open decision
        sign_form = SignForm(roles=can_sign, initial={"decision": current.pk, "signed_as": can_sign[0]})
    return {
        "decision": current,
        "decision_sign_offs": [(role, signed.get(role.value)) for role in SIGNING_ROLES],
        "previous_decisions": [d for d in decisions if d is not current],
        "decision_form": decision_form if may_propose else None,
        "sign_form": sign_form if can_sign else None,
        "override_if_accepted": evaluation.override_needed("suitable"),
        "may_propose": may_propose,
    }


def _render_workup(request, actor, donor, *, bound=None, decision_form=None, sign_form=None, status=200):
    services.record_donor_read(actor=actor, donor=donor, what="workup")
    evaluation = ws.evaluate(donor)
    context = {
        "donor": donor,
        "status_label": Status(donor.status).label,
        "evaluation": evaluation,
        "thresholds_rows": _threshold_rows(evaluation.thresholds),
        "blocks": _blocks(request, actor, donor, evaluation, bound or {}),
        **_decision_context(actor, donor, evaluation, decision_form, sign_form),
    }
    return render(request, "workup/workup.html", context, status=status)


def _threshold_rows(thresholds: criteria.Thresholds) -> list[tuple[str, str, str]]:
    rows = []
    for f in dataclasses.fields(criteria.Thresholds):
        value = getattr(thresholds, f.name)
        if isinstance(value, (tuple, list)):
            value = ", ".join(value) or "none"
        elif isinstance(value, float):
            value = f"{value:g}"
        rows.append((criteria.threshold_label(f.name), f.metadata["help"], value))
    return rows


@login_required
def worklist(request):
    """The first page of the day: what waits for each of the user's roles in the centre."""
    actor = page_actor(request)
    lists = wl.worklists_for(actor)
    if not lists:
        raise NotPermitted("your roles have no worklist")
    record_reads(actor=actor, donors=wl.donors_shown(lists), summary="worklist (page)")
    if any(worklist.role == Role.AUDITOR for worklist in lists):
        services.record_audit_trail_read(actor=actor, filters={"shown": "worklist"}, page=1)
    return render(request, "workup/worklist.html", {"worklists": lists})


@login_required
def workup(request, pk):
    actor = page_actor(request)
    donor = selectors.donor_for(actor=actor, pk=pk)
    return _render_workup(request, actor, donor)


@login_required
@require_POST
def workup_record(request, pk, key):
    actor = page_actor(request)
    if key not in RECORD_FORMS:
        raise Http404("no such record kind")
    form_class, kind, sub = RECORD_FORMS[key]
    donor = selectors.donor_for(actor=actor, pk=pk)
    wsv.require_record(actor, kind, sub)
    extra = {"modality": sub} if kind == "steatosis" else {"clearance_kind": sub} if kind == "clearances" else {}
    form = form_class(request.POST, prefix=key, **extra)
    status = 400
    if form.is_valid():
        supersedes = form.cleaned_data.get("supersedes")
        values = form.values()
        if sub:
            values[wsv.KINDS[kind].sub_field] = sub
        try:
            wsv.record_workup(actor=actor, donor=donor, kind=kind, values=values, supersedes=supersedes)
        except DomainError as error:
            apply_errors(form, error)
            status = error.status_code
        else:
            messages.success(request, f"Saved the {wsv.record_noun(kind, sub)} of {donor.code}.")
            return redirect(reverse("workup:workup", args=[donor.pk]) + f"#{key}")
    return _render_workup(request, actor, donor, bound={key: form}, status=status)


@login_required
@require_POST
def workup_decision(request, pk):
    actor = page_actor(request)
    donor = selectors.donor_for(actor=actor, pk=pk, action=Action.RECORD_DECISION)
    form = DecisionForm(request.POST)
    status = 400
    if form.is_valid():
        values = form.cleaned_data
        try:
            decision = wsv.propose_decision(
                actor=actor,
                donor=donor,
                outcome=values["decision_outcome"],
                reasons=values["reasons"],
                conditions=values["conditions"],
                override_reason=values["override_reason"],
                replaces=values.get("replaces"),
            )
        except DomainError as error:
            apply_errors(form, error)
            status = error.status_code
        else:
            messages.success(
                request,
                f"Proposed the decision for {donor.code}: {decision.get_decision_outcome_display().lower()}. "
                "It takes effect when the radiologist, the hepatologist and the surgeon have signed.",
            )
            return redirect(reverse("workup:workup", args=[donor.pk]) + "#decision")
    return _render_workup(request, actor, donor, decision_form=form, status=status)


@login_required
@require_POST
def workup_sign(request, pk):
    actor = page_actor(request)
    donor = selectors.donor_for(actor=actor, pk=pk, action=Action.RECORD_DECISION)
    if not wsv.signing_roles_of(actor.roles):
        raise NotPermitted("only a radiologist, a hepatologist or a surgeon signs the decision")
    form = SignForm(request.POST, roles=[r.value for r in wsv.signing_roles_of(actor.roles)])
    status = 400
    if form.is_valid():
        try:
            sign_off = wsv.sign_decision(
                actor=actor,
                donor=donor,
                decision_id=form.cleaned_data["decision"],
                signed_as=form.cleaned_data["signed_as"],
                comment=form.cleaned_data["comment"],
            )
        except DomainError as error:
            apply_errors(form, error)
            status = error.status_code
        else:
            messages.success(request, _signed_message(donor, sign_off))
            return redirect(reverse("workup:workup", args=[donor.pk]) + "#decision")
    return _render_workup(request, actor, donor, sign_form=form, status=status)


def _signed_message(donor, sign_off) -> str:
    decision = sign_off.decision
    signed_as = Role(sign_off.signed_as).label.lower()
    if decision.decision_state == DecisionState.COMPLETE:
        return (
            f"Signed the decision as the {signed_as}. Every role has signed: "
            f"{donor.code} is now {decision.get_decision_outcome_display().lower()}."
        )
    signed = set(decision.sign_offs.values_list("signed_as", flat=True))
    waiting = [r.label.lower() for r in SIGNING_ROLES if r.value not in signed]
    return f"Signed the decision as the {signed_as}; waiting for the {' and the '.join(waiting)}."


@login_required
@require_http_methods(["GET", "POST"])
def thresholds(request):
    actor = page_actor(request)
    centre_id = actor.centre_id
    if centre_id is None:
        raise NotPermitted("you do not belong to a centre")
    current, row = ws.centre_thresholds(centre_id)
    editable = bool(actor.user.is_centre_admin)
    instance = row or CentreThresholds(centre_id=centre_id)
    form = None
    status = 200
    if request.method == "POST":
        wsv.require_centre_admin(actor)
        form = ThresholdsForm(request.POST, instance=CentreThresholds(centre_id=centre_id))
        status = 400
        if form.is_valid():
            values = {k: v for k, v in form.cleaned_data.items() if k != "version"}
            try:
                saved = wsv.update_thresholds(actor=actor, expected_version=form.cleaned_data["version"], values=values)
            except DomainError as error:
                apply_errors(form, error)
                status = error.status_code
            else:
                messages.success(request, f"Saved the thresholds of {saved.centre}: version {saved.version}.")
                return redirect("workup:thresholds")
    elif editable:
        form = ThresholdsForm(instance=instance, initial={"version": row.version if row else 0})
    now, defaults = _threshold_rows(current), _threshold_rows(criteria.DEFAULT_THRESHOLDS)
    context = {
        "rows": [
            (
                f.name,
                criteria.threshold_label(f.name),
                f.metadata["help"],
                now[i][2],
                f.metadata["source"],
                defaults[i][2],
            )
            for i, f in enumerate(dataclasses.fields(criteria.Thresholds))
        ],
        "row": row,
        "form": form,
        "editable": editable,
    }
    return render(request, "workup/thresholds.html", context, status=status)
