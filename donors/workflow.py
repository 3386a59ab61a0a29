"""The donor's workup status and the transitions a team may make. Pure rules."""
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


class IllegalTransition(ValueError):
    pass


def check_transition(current: str, target: str, reason: str) -> None:
    """Raise IllegalTransition with a message a coordinator understands."""
    try:
        current_status, target_status = Status(current), Status(target)
    except ValueError:
        raise IllegalTransition(f"unknown status '{target}'") from None
    if target_status == current_status:
        raise IllegalTransition(f"the donor is already {current_status.label.lower()}")
    if target_status not in TRANSITIONS[current_status]:
        allowed = ", ".join(sorted(s.label.lower() for s in TRANSITIONS[current_status])) or "none"
        raise IllegalTransition(
            f"cannot move from {current_status.label.lower()} to {target_status.label.lower()} "
            f"(allowed: {allowed})"
        )
    if not reason or not reason.strip():
        raise IllegalTransition("a reason is required for every status change")


def allowed_targets(current: str) -> list[Status]:
    return sorted(TRANSITIONS[Status(current)], key=list(Status).index)
