"""The donor's workup status and the transitions a team may make. Pure rules.

A status is reached through one door only: a coordinator's status change (with a reason) for what
is not a clinical decision, the completed multidisciplinary decision for suitable, suitable with
conditions and not suitable, and the surgeon's record of the operation for donated.
"""

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    CANDIDATE = "candidate"
    IN_EVALUATION = "in_evaluation"
    SUITABLE = "suitable"
    SUITABLE_WITH_CONDITIONS = "suitable_with_conditions"
    NOT_SUITABLE = "not_suitable"
    WITHDRAWN = "withdrawn"
    DONATED = "donated"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


DECISIONS = frozenset({Status.SUITABLE, Status.SUITABLE_WITH_CONDITIONS, Status.NOT_SUITABLE})

# A decision may be revisited (back to evaluation); donation and withdrawal end the workup,
# except that a withdrawn candidate may come back as a new candidate.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.CANDIDATE: frozenset({Status.IN_EVALUATION, Status.WITHDRAWN}),
    Status.IN_EVALUATION: DECISIONS | {Status.WITHDRAWN},
    Status.SUITABLE: frozenset({Status.DONATED, Status.WITHDRAWN, Status.IN_EVALUATION}),
    Status.SUITABLE_WITH_CONDITIONS: frozenset({Status.DONATED, Status.WITHDRAWN, Status.IN_EVALUATION}),
    Status.NOT_SUITABLE: frozenset({Status.IN_EVALUATION, Status.WITHDRAWN}),
    Status.WITHDRAWN: frozenset({Status.CANDIDATE}),
    Status.DONATED: frozenset(),
}


class Door(StrEnum):
    """How a status change comes about."""

    MANUAL = "manual"  # a coordinator's status change with a reason
    DECISION = "decision"  # the last sign-off of the multidisciplinary decision
    OPERATION = "operation"  # the surgeon records the operation


def door_of(target: Status) -> Door:
    if target in DECISIONS:
        return Door.DECISION
    if target == Status.DONATED:
        return Door.OPERATION
    return Door.MANUAL


# The decision is proposed and then signed by one person in each of these roles.
SIGNING_ROLES = ("radiologist", "hepatologist", "surgeon")
# The operation is recorded only for a donor the team accepted.
OPERABLE = frozenset({Status.SUITABLE, Status.SUITABLE_WITH_CONDITIONS})


@dataclass(frozen=True)
class DecisionProgress:
    """Where the team's open decision stands: its proposed outcome and the roles that signed it."""

    outcome: str | None = None
    signed: frozenset[str] = frozenset()


class IllegalTransition(ValueError):
    pass


class WrongDoor(IllegalTransition):
    """The target status is reached by the decision or by the operation, not by a status change."""


def _listed(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def decision_missing(target: Status, progress: DecisionProgress | None) -> str:
    """What the multidisciplinary decision still needs before it sets `target`."""
    if progress is None or progress.outcome != target:
        proposed = ""
        if progress is not None and progress.outcome:
            proposed = f" (the open decision proposes {Status(progress.outcome).label.lower()})"
        return f"a decision proposing {target.label.lower()}{proposed}, then sign-offs by the {_listed(SIGNING_ROLES)}"
    unsigned = [role for role in SIGNING_ROLES if role not in progress.signed]
    return "sign-offs by the " + _listed(unsigned)


def wrong_door_message(current: Status, target: Status, progress: DecisionProgress | None = None) -> str:
    """Why a status change cannot set `target`, what is missing and who provides it."""
    label = target.label.lower()
    if door_of(target) == Door.DECISION:
        message = (
            f"{label} is set only by the completed multidisciplinary decision, not by a status change: "
            f"it needs {decision_missing(target, progress)} on the workup page"
        )
        if current != Status.IN_EVALUATION:
            message += (
                f"; the donor is {current.label.lower()} and must first be in evaluation (a coordinator moves it)"
            )
        return message
    message = (
        "donated is set only when the surgeon records the operation, for a donor whose decision is "
        "suitable or suitable with conditions"
    )
    if current not in OPERABLE:
        message += f"; this donor is {current.label.lower()}"
    return message


def operation_refusal(current: str) -> str | None:
    """Why an operation cannot be recorded for a donor in `current` status, or None."""
    status = Status(current)
    if status in OPERABLE:
        return None
    if status == Status.DONATED:
        return "the operation of this donor is already recorded"
    needs = "the team's decision (sign-offs by the " + _listed(SIGNING_ROLES) + ") must accept the donor first"
    if status == Status.NOT_SUITABLE:
        needs = "the team decided not suitable"
    return (
        f"an operation is recorded only for a donor whose multidisciplinary decision is suitable or "
        f"suitable with conditions; this donor is {status.label.lower()}: {needs}"
    )


def check_transition(
    current: str, target: str, reason: str, *, door: Door = Door.MANUAL, progress: DecisionProgress | None = None
) -> None:
    """Raise IllegalTransition with a message a coordinator understands.

    `door` is how the change comes about; `progress` describes the open decision, so that a
    refused manual change to a decision status names the missing sign-offs.
    """
    try:
        current_status, target_status = Status(current), Status(target)
    except ValueError:
        raise IllegalTransition(f"unknown status '{target}'") from None
    if target_status == current_status:
        raise IllegalTransition(f"the donor is already {current_status.label.lower()}")
    if door_of(target_status) != door:
        if door == Door.MANUAL:
            raise WrongDoor(wrong_door_message(current_status, target_status, progress))
        raise IllegalTransition(f"{target_status.label.lower()} is not set by the {door.value}")
    if target_status not in TRANSITIONS[current_status]:
        allowed = ", ".join(sorted(s.label.lower() for s in TRANSITIONS[current_status])) or "none"
        raise IllegalTransition(
            f"cannot move from {current_status.label.lower()} to {target_status.label.lower()} (allowed: {allowed})"
        )
    if not reason or not reason.strip():
        raise IllegalTransition("a reason is required for every status change")


def allowed_targets(current: str, door: Door = Door.MANUAL) -> list[Status]:
    """The statuses reachable from `current` through `door` (a status change by default)."""
    return sorted((t for t in TRANSITIONS[Status(current)] if door_of(t) == door), key=list(Status).index)
