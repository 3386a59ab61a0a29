"""Each role's worklist: what is waiting for that role in the actor's centre, and where it is done.

One function per role returns its named sections; a section's count is the number of its rows, so
a count always matches the list beside it. Every query is scoped to the actor's centre. What counts
as missing reuses the workup's own rules (`selectors.evaluate`, `checklist.labs_missing`), so the
worklist and the workup page never disagree.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import timezone

from classification.models import Annotation, SurgicalOutcome
from core.access import require
from core.audit import Actor
from core.models import AuditEvent
from core.roles import Action, Role, may
from donors import selectors as donor_selectors
from donors.models import Donor
from donors.services import actor_centre_id
from donors.workflow import OPERABLE, Status
from imaging import selectors as imaging_selectors
from imaging.models import Study

from . import checklist
from . import selectors as ws
from .models import SIGNING_ROLES, Decision, DecisionState, LabResult

# Workups still running: a donor withdrawn, declined or operated needs no more workup.
WORKUP_ACTIVE = (Status.CANDIDATE, Status.IN_EVALUATION, Status.SUITABLE, Status.SUITABLE_WITH_CONDITIONS)
# Labs matter while the team evaluates and until the operation.
LABS_NEEDED = (Status.IN_EVALUATION, Status.SUITABLE, Status.SUITABLE_WITH_CONDITIONS)
AUDIT_ALERT_DAYS = 30
AUDIT_ALERT_LIMIT = 200
AUDIT_LATEST = 25


@dataclass(frozen=True)
class Row:
    """One piece of work: what it is about, what is to be done, and the page where it is done."""

    label: str
    detail: str
    url: str
    action: str
    donor: Donor | None = None
    alert: str = ""  # a word for rows an auditor looks at first ("Refused", "Failed logins")
    when: datetime.datetime | datetime.date | None = None


@dataclass
class Section:
    key: str
    title: str
    empty: str
    rows: list[Row] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass
class Worklist:
    role: Role
    sections: list[Section]

    @property
    def title(self) -> str:
        return role_title(self.role)


def role_title(role: Role) -> str:
    return {
        Role.COORDINATOR: "Coordinator",
        Role.RADIOLOGIST: "Radiologist",
        Role.HEPATOLOGIST: "Hepatologist",
        Role.SURGEON: "Surgeon",
        Role.AUDITOR: "Auditor",
    }.get(role, role.label)


def _donors(actor: Actor):
    require(actor, Action.VIEW_DONOR)
    return Donor.objects.filter(centre_id=actor_centre_id(actor)).select_related("recipient")


def _workup_url(donor: Donor, anchor: str = "") -> str:
    return reverse("workup:workup", args=[donor.pk]) + (f"#{anchor}" if anchor else "")


def _day(value: datetime.datetime | datetime.date) -> str:
    if isinstance(value, datetime.datetime):
        value = timezone.localdate(value)
    return f"{value:%Y-%m-%d}"


# ---------------------------------------------------------------- decisions


def _open_decisions(actor: Actor) -> list[Decision]:
    require(actor, Action.VIEW_DONOR)
    return list(
        Decision.objects.filter(donor__centre_id=actor_centre_id(actor), decision_state=DecisionState.OPEN)
        .select_related("donor", "donor__recipient", "proposed_by")
        .prefetch_related("sign_offs")
        .order_by("proposed_at", "pk")
    )


def _awaiting(decision: Decision) -> list[Role]:
    signed = {s.signed_as for s in decision.sign_offs.all()}
    return [role for role in SIGNING_ROLES if role.value not in signed]


def _decision_detail(decision: Decision) -> str:
    awaiting = ", ".join(role.label.lower() for role in _awaiting(decision))
    return (
        f"proposed {decision.get_decision_outcome_display().lower()} on {_day(decision.proposed_at)}; "
        f"awaiting {awaiting}"
    )


def sign_off_section(actor: Actor, role: Role) -> Section:
    """Open decisions still waiting for this role's sign-off that this person has not signed."""
    rows = []
    for decision in _open_decisions(actor):
        signed_by_me = any(s.user_id == actor.user.pk for s in decision.sign_offs.all())
        if role in _awaiting(decision) and not signed_by_me:
            rows.append(
                Row(
                    label=decision.donor.code,
                    detail=_decision_detail(decision),
                    url=_workup_url(decision.donor, "decision"),
                    action=f"Sign as {role.label.lower()}",
                    donor=decision.donor,
                    when=decision.proposed_at,
                )
            )
    return Section(
        "sign_off",
        f"Decisions awaiting the {role.label.lower()}'s sign-off",
        "No decision is waiting for your sign-off.",
        rows,
    )


# ---------------------------------------------------------------- coordinator


def coordinator_worklist(actor: Actor) -> Worklist:
    donors = _donors(actor)
    candidates = [
        Row(
            label=donor.code,
            detail=f"registered on {_day(donor.created_at)}"
            + ("" if donor.recipient_id else "; no recipient linked yet"),
            url=reverse("donors:detail", args=[donor.pk]) + "#status",
            action="Start the evaluation",
            donor=donor,
            when=donor.created_at,
        )
        for donor in donors.filter(status=Status.CANDIDATE).order_by("created_at", "pk")
    ]
    missing, ready = [], []
    open_by_donor = {decision.donor_id: decision for decision in _open_decisions(actor)}
    for donor in donors.filter(status=Status.IN_EVALUATION).order_by("code"):
        outstanding = ws.evaluate(donor).outstanding
        if outstanding:
            items = "; ".join(f"{need.title} — {need.owner}" for need in outstanding)
            missing.append(
                Row(
                    label=donor.code,
                    detail=f"{len(outstanding)} missing: {items}",
                    url=_workup_url(donor, "missing"),
                    action="Open the workup",
                    donor=donor,
                )
            )
        elif donor.pk not in open_by_donor and ws.current_decision(donor) is None:
            ready.append(
                Row(
                    label=donor.code,
                    detail="every check has a value: the team's decision is next",
                    url=_workup_url(donor, "decision"),
                    action="Propose the decision",
                    donor=donor,
                )
            )
    waiting = [
        Row(
            label=decision.donor.code,
            detail=_decision_detail(decision),
            url=_workup_url(decision.donor, "decision"),
            action="Open the decision",
            donor=decision.donor,
            when=decision.proposed_at,
        )
        for decision in open_by_donor.values()
    ]
    return Worklist(
        Role.COORDINATOR,
        [
            Section(
                "new_candidates",
                "New candidates",
                "No new candidate is waiting.",
                candidates,
                links=[("New donor", reverse("donors:create"))],
            ),
            Section("missing_items", "Workups with missing items", "No workup in evaluation lacks an item.", missing),
            Section("decisions", "Decisions waiting", "No decision is waiting.", ready + waiting),
        ],
    )


# ---------------------------------------------------------------- radiologist


def _study_row(study: Study, detail: str, url_name: str, anchor: str, action: str) -> Row:
    """A row for a study filed under a donor (the queries ask only for those)."""
    donor = study.donor
    if donor is None:
        raise ValueError(f"study {study.pk} is not filed under a donor")
    return Row(
        label=donor.code,
        detail=detail,
        url=reverse(url_name, args=[donor.pk]) + anchor,
        action=action,
        donor=donor,
        when=study.created_at,
    )


def radiologist_worklist(actor: Actor) -> Worklist:
    require(actor, Action.VIEW_DONOR)
    centre_id = actor_centre_id(actor)
    studies = (
        Study.objects.filter(centre_id=centre_id, donor__isnull=False)
        .exclude(identity_state=Study.Identity.DETACHED)
        .select_related("donor", "donor__recipient")
        .prefetch_related("series")
    )
    unread = [
        _study_row(
            study,
            f"study '{study}' received on {_day(study.created_at)}, {len(study.series.all())} series; "
            "no anatomy recorded",
            "classification:editor",
            "",
            "Read the anatomy",
        )
        for study in studies.filter(donor__status__in=WORKUP_ACTIVE, donor__annotation__isnull=True).order_by(
            "created_at", "pk"
        )
    ]
    drafts = [
        Row(
            label=annotation.donor.code,
            detail=f"draft saved on {_day(annotation.updated_at)} by {annotation.updated_by.get_username()}",
            url=reverse("classification:editor", args=[annotation.donor.pk]),
            action="Finish the anatomy",
            donor=annotation.donor,
            when=annotation.updated_at,
        )
        for annotation in Annotation.objects.filter(donor__centre_id=centre_id, state=Annotation.State.DRAFT)
        .select_related("donor", "donor__recipient", "updated_by")
        .order_by("updated_at", "pk")
    ]
    warnings = [
        _study_row(
            study,
            f"study '{study}': "
            + ("; ".join(line for line in study.identity_warning.splitlines() if line) or "identity not checked"),
            "donors:detail",
            "#mrcp-section",
            "Confirm or detach",
        )
        for study in studies.filter(identity_state=Study.Identity.UNRESOLVED).order_by("created_at", "pk")
    ]
    unmatched = [
        Row(
            label=str(study),
            detail="detached"
            + (f" from {study.detached_from.code}" if study.detached_from is not None else "")
            + f"; {len(study.series.all())} series",
            url=reverse("imaging:unmatched"),
            action="Attach to a donor",
            when=study.identity_acknowledged_at or study.created_at,
        )
        for study in imaging_selectors.unmatched_studies(actor=actor)
    ]
    return Worklist(
        Role.RADIOLOGIST,
        [
            Section("unread_studies", "Studies not yet read", "Every study received has an anatomy.", unread),
            Section("draft_anatomies", "Anatomies in draft", "No anatomy is in draft.", drafts),
            Section(
                "identity_warnings",
                "Unresolved identity warnings",
                "No study's patient identity is in doubt.",
                warnings,
            ),
            Section("unmatched_studies", "Unmatched studies", "No study is waiting for its donor.", unmatched),
            sign_off_section(actor, Role.RADIOLOGIST),
        ],
    )


# ---------------------------------------------------------------- hepatologist


def hepatologist_worklist(actor: Actor, *, today: datetime.date | None = None) -> Worklist:
    today = today or timezone.localdate()
    missing, out_of_date = [], []
    for donor in _donors(actor).filter(status__in=LABS_NEEDED).order_by("code"):
        labs = ws.newest(LabResult.objects.filter(donor=donor))
        lacking = checklist.labs_missing(labs)
        if lacking:
            missing.append(
                Row(
                    label=donor.code,
                    detail="missing: " + ", ".join(lacking),
                    url=_workup_url(donor, "labs"),
                    action="Record labs",
                    donor=donor,
                )
            )
        elif checklist.labs_out_of_date(labs, today):
            out_of_date.append(
                Row(
                    label=donor.code,
                    detail=f"latest labs of {_day(labs.measured_on)}, more than "
                    f"{checklist.LABS_CURRENT_FOR_DAYS} days ago",
                    url=_workup_url(donor, "labs"),
                    action="Record new labs",
                    donor=donor,
                    when=labs.measured_on,
                )
            )
    return Worklist(
        Role.HEPATOLOGIST,
        [
            Section("labs_missing", "Labs missing", "Every donor in workup has labs.", missing),
            Section(
                "labs_out_of_date",
                f"Labs older than {checklist.LABS_CURRENT_FOR_DAYS} days",
                "No donor's labs are out of date.",
                out_of_date,
            ),
            sign_off_section(actor, Role.HEPATOLOGIST),
        ],
    )


# ---------------------------------------------------------------- surgeon


def surgeon_worklist(actor: Actor) -> Worklist:
    donors = _donors(actor).select_related("annotation")
    operated = set(
        SurgicalOutcome.objects.filter(donor__centre_id=actor_centre_id(actor)).values_list("donor_id", flat=True)
    )

    def anatomy_state(donor: Donor) -> str:
        annotation = getattr(donor, "annotation", None)
        if annotation is None:
            return "no anatomy recorded"
        return "anatomy final" if annotation.state == Annotation.State.FINAL else "anatomy still in draft"

    accepted = [
        Row(
            label=donor.code,
            detail=f"{Status(donor.status).label.lower()}; {anatomy_state(donor)}",
            url=reverse("classification:outcome", args=[donor.pk]),
            action="Record the operation",
            donor=donor,
        )
        for donor in donors.filter(status__in=OPERABLE).order_by("code")
        if donor.pk not in operated
    ]
    no_outcome = [
        Row(
            label=donor.code,
            detail="donated; the operation's outcome is not recorded",
            url=reverse("classification:outcome", args=[donor.pk]),
            action="Record the outcome",
            donor=donor,
        )
        for donor in donors.filter(status=Status.DONATED).order_by("code")
        if donor.pk not in operated
    ]
    return Worklist(
        Role.SURGEON,
        [
            sign_off_section(actor, Role.SURGEON),
            Section(
                "not_operated",
                "Accepted donors not yet operated",
                "No accepted donor is waiting for the operation.",
                accepted,
                links=[("Surgical worklist", reverse("classification:worklist"))],
            ),
            Section(
                "outcome_missing",
                "Operations without an outcome",
                "Every operation has its outcome.",
                no_outcome,
            ),
        ],
    )


# ---------------------------------------------------------------- auditor


def _audit_row(event: AuditEvent) -> Row:
    attempted = event.changes.get("username") if isinstance(event.changes, dict) else None
    if event.user:
        who = event.user.get_username()
    elif attempted:
        who = f"a login as {attempted}"  # a locked-out login: nobody was logged in
    else:
        who = "the system"
    if event.donor_code:
        url = reverse("donors:audit") + f"?donor_code={event.donor_code}"
    elif event.user:
        url = reverse("donors:audit") + f"?username={event.user.get_username()}"
    else:
        url = reverse("donors:audit") + f"?kind={event.kind}"
    return Row(
        label=f"{event.get_kind_display()} by {who}",
        detail=event.summary or f"{event.record_type} {event.record_id}".strip(),
        url=url,
        action="Open in the audit trail",
        alert=event.alert,
        when=event.at,
    )


def auditor_worklist(actor: Actor, *, now: datetime.datetime | None = None) -> Worklist:
    """Refusals and locked-out logins of the last days first, then the newest events of the trail."""
    now = now or timezone.now()
    trail = donor_selectors.audit_trail(actor=actor)
    alerts = trail.filter(kind=AuditEvent.Kind.DENIED, at__gte=now - datetime.timedelta(days=AUDIT_ALERT_DAYS))
    full_trail = [("Full audit trail", reverse("donors:audit"))]
    return Worklist(
        Role.AUDITOR,
        [
            Section(
                "alerts",
                f"Refusals and failed logins, last {AUDIT_ALERT_DAYS} days",
                f"Nothing was refused in the last {AUDIT_ALERT_DAYS} days.",
                [_audit_row(event) for event in alerts[:AUDIT_ALERT_LIMIT]],
                links=[("All refusals", reverse("donors:audit") + f"?kind={AuditEvent.Kind.DENIED}")],
            ),
            Section(
                "latest_events",
                f"Latest {AUDIT_LATEST} events",
                "The audit trail is empty.",
                [_audit_row(event) for event in trail[:AUDIT_LATEST]],
                links=full_trail,
            ),
        ],
    )


# ---------------------------------------------------------------- all of a user's roles

BUILDERS = {
    Role.COORDINATOR: coordinator_worklist,
    Role.RADIOLOGIST: radiologist_worklist,
    Role.HEPATOLOGIST: hepatologist_worklist,
    Role.SURGEON: surgeon_worklist,
    Role.AUDITOR: auditor_worklist,
}


def worklists_for(actor: Actor) -> list[Worklist]:
    """One worklist per role of the actor that has one, in the order of the workup."""
    return [build(actor) for role, build in BUILDERS.items() if role in actor.roles]


def donors_shown(worklists: list[Worklist]) -> list[Donor]:
    """Every donor the worklists name, once each, for the audit of the page."""
    shown: dict[int, Donor] = {}
    for worklist in worklists:
        for section in worklist.sections:
            for row in section.rows:
                if row.donor is not None:
                    shown.setdefault(row.donor.pk, row.donor)
    return list(shown.values())


def may_open_worklist(roles) -> bool:
    return may(roles, Action.VIEW_DONOR) or may(roles, Action.VIEW_AUDIT)
