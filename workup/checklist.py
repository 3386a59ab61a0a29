"""The workup steps of donor-workup.md, who owns each, and whether it is recorded yet.

The states come from the latest workup records; `workup_steps(...).summary` also carries the
evaluated checks (counts, failing, still missing) for the donor page's workup section.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from core.roles import Role

from . import selectors as ws
from .models import SIGNING_ROLES, ClearanceKind, ClearanceStatus, DecisionState, SteatosisModality


@dataclass(frozen=True)
class Step:
    title: str
    owner: Role
    state: str  # "done", "missing" or "fail" (recorded, but a clearance was refused)
    detail: str = ""


@dataclass
class Summary:
    counts: dict
    failing: list
    borderline: list
    outstanding: list
    thresholds_basis: str
    decision: object = None


class WorkupSteps(list):
    """The steps in order; `summary` holds the evaluated checks behind them."""

    summary: Summary | None = None


@dataclass
class _Parts:
    missing: list[str] = field(default_factory=list)

    def need(self, present: bool, what: str) -> None:
        if not present:
            self.missing.append(what)

    def step(self, title: str, owner: Role, done_detail: str) -> Step:
        if self.missing:
            return Step(title, owner, "missing", "missing: " + ", ".join(self.missing))
        return Step(title, owner, "done", done_detail)


# Laboratory results older than this are repeated before the team decides or the donor is operated
# (blood counts and liver tests describe the donor as they are now, not as they were months ago).
LABS_CURRENT_FOR_DAYS = 90


def labs_missing(labs) -> list[str]:
    """What the latest laboratory record lacks for the workup (everything when there is none)."""
    parts = _Parts()
    parts.need(labs is not None, "laboratory results")
    if labs is not None:
        for name, label in (("ast", "AST"), ("alt", "ALT"), ("platelets", "platelets")):
            parts.need(getattr(labs, name) is not None, label)
        parts.need(bool(labs.serology.strip()), "serology")
    return parts.missing


def labs_out_of_date(labs, today: datetime.date) -> bool:
    """True when the latest laboratory record was measured more than LABS_CURRENT_FOR_DAYS ago."""
    return labs is not None and (today - labs.measured_on).days > LABS_CURRENT_FOR_DAYS


def _labs_step(labs) -> Step:
    title = "History, examination, labs, serology"
    parts = _Parts(missing=labs_missing(labs))
    done = f"labs of {labs.measured_on:%Y-%m-%d}" if labs is not None else ""
    return parts.step(title, Role.HEPATOLOGIST, done)


def _imaging_step(records) -> Step:
    parts = _Parts()
    parts.need(records.volumetry is not None, "volumetry")
    parts.need(records.hepatic_artery is not None, "hepatic artery")
    parts.need(records.portal_vein is not None, "portal vein")
    parts.need(records.hepatic_veins is not None, "hepatic veins")
    parts.need(bool(records.steatosis), "steatosis")
    done = (
        "steatosis by " + ", ".join(SteatosisModality(m).label for m in records.steatosis) if records.steatosis else ""
    )
    return parts.step("CT volumetry, vascular anatomy, steatosis", Role.RADIOLOGIST, done)


def _clearance_step(records) -> Step:
    title = "Psychosocial evaluation and donor advocate"
    statuses = {
        kind: records.clearances[kind].clearance_status if kind in records.clearances else None
        for kind in ClearanceKind.values
    }
    detail = "; ".join(
        f"{ClearanceKind(k).label.lower()}: {(s or 'not recorded').replace('_', ' ')}" for k, s in statuses.items()
    )
    if any(s == ClearanceStatus.NOT_CLEARED for s in statuses.values()):
        return Step(title, Role.COORDINATOR, "fail", detail)
    if all(s == ClearanceStatus.CLEARED for s in statuses.values()):
        return Step(title, Role.COORDINATOR, "done", detail)
    return Step(title, Role.COORDINATOR, "missing", detail)


def _decision_step(donor, decision) -> Step:
    title = "Graft plan and multidisciplinary decision"
    if decision is None:
        return Step(title, Role.SURGEON, "missing", "no decision proposed")
    if decision.decision_state == DecisionState.COMPLETE:
        current = (
            "" if donor.status == decision.decision_outcome else f" (the donor is now {donor.status.replace('_', ' ')})"
        )
        return Step(
            title, Role.SURGEON, "done", f"{decision.get_decision_outcome_display().lower()}, signed by all{current}"
        )
    signed = {s.signed_as for s in decision.sign_offs.all()}
    awaiting = ", ".join(r.label.lower() for r in SIGNING_ROLES if r.value not in signed)
    return Step(
        title,
        Role.SURGEON,
        "missing",
        f"proposed: {decision.get_decision_outcome_display().lower()}; awaiting {awaiting}",
    )


def workup_steps(*, donor) -> WorkupSteps:
    """Progress of the workup from the latest records; the detailed checks are in `.summary`."""
    evaluation = ws.evaluate(donor)
    records = evaluation.records
    decision = ws.current_decision(donor)
    steps = WorkupSteps(
        [
            Step(
                "Contact, questionnaire, ABO group, consent",
                Role.COORDINATOR,
                "done" if donor.abo else "missing",
                f"ABO {donor.abo}" if donor.abo else "",
            ),
            Step(
                "Recipient linked",
                Role.COORDINATOR,
                "done" if donor.recipient_id else "missing",
                donor.recipient.code if donor.recipient_id else "",
            ),
            _labs_step(records.labs),
            _imaging_step(records),
            Step(
                "MRCP biliary anatomy",
                Role.RADIOLOGIST,
                "done" if evaluation.biliary_type else "missing",
                f"proposed type {evaluation.biliary_type}" if evaluation.biliary_type else "no proposed biliary type",
            ),
            _clearance_step(records),
            _decision_step(donor, decision),
        ]
    )
    steps.summary = Summary(
        counts=evaluation.counts,
        failing=evaluation.failing,
        borderline=[item for item in evaluation.items if item.state == "borderline"],
        outstanding=evaluation.outstanding,
        thresholds_basis=evaluation.thresholds_basis,
        decision=decision,
    )
    return steps
