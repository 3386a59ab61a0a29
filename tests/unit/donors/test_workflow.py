import pytest

from donors.workflow import (
    DecisionProgress,
    Door,
    IllegalTransition,
    Status,
    WrongDoor,
    allowed_targets,
    check_transition,
    operation_refusal,
)


@pytest.mark.parametrize(
    "current,target,door",
    [
        ("candidate", "in_evaluation", Door.MANUAL),
        ("candidate", "withdrawn", Door.MANUAL),
        ("in_evaluation", "suitable", Door.DECISION),
        ("in_evaluation", "suitable_with_conditions", Door.DECISION),
        ("in_evaluation", "not_suitable", Door.DECISION),
        ("in_evaluation", "withdrawn", Door.MANUAL),
        ("suitable", "donated", Door.OPERATION),
        ("suitable_with_conditions", "donated", Door.OPERATION),
        ("suitable", "in_evaluation", Door.MANUAL),
        ("not_suitable", "in_evaluation", Door.MANUAL),
        ("withdrawn", "candidate", Door.MANUAL),
    ],
)
def test_allowed_transitions_pass_through_their_door(current, target, door):
    check_transition(current, target, "team meeting 12 May", door=door)


@pytest.mark.parametrize(
    "current,target",
    [
        ("candidate", "withdrawn"),
        ("in_evaluation", "suitable_with_conditions"),
        ("suitable", "donated"),
    ],
)
def test_a_status_is_set_by_its_own_door_only(current, target):
    for door in Door:
        if door.value == {"withdrawn": "manual", "donated": "operation"}.get(target, "decision"):
            continue
        with pytest.raises(IllegalTransition):
            check_transition(current, target, "reason", door=door)


@pytest.mark.parametrize("target", ["suitable", "suitable_with_conditions", "not_suitable"])
def test_a_status_change_cannot_take_the_decision_and_names_the_sign_offs(target):
    with pytest.raises(WrongDoor) as error:
        check_transition("in_evaluation", target, "the team agreed")
    message = str(error.value)
    assert f"{Status(target).label.lower()} is set only by the completed multidisciplinary decision" in message
    assert "sign-offs by the radiologist, hepatologist and surgeon" in message


def test_the_refusal_names_the_sign_offs_still_missing_on_the_open_decision():
    progress = DecisionProgress(outcome="suitable", signed=frozenset({"radiologist"}))
    with pytest.raises(WrongDoor, match="it needs sign-offs by the hepatologist and surgeon on the workup page"):
        check_transition("in_evaluation", "suitable", "x", progress=progress)
    other = DecisionProgress(outcome="not_suitable", signed=frozenset())
    with pytest.raises(WrongDoor, match=r"a decision proposing suitable \(the open decision proposes not suitable\)"):
        check_transition("in_evaluation", "suitable", "x", progress=other)


def test_a_decision_status_from_a_candidate_also_says_evaluation_comes_first():
    with pytest.raises(WrongDoor, match="must first be in evaluation"):
        check_transition("candidate", "suitable", "x")


@pytest.mark.parametrize("current", ["in_evaluation", "suitable", "not_suitable", "withdrawn"])
def test_donated_is_never_a_status_change(current):
    with pytest.raises(WrongDoor, match="donated is set only when the surgeon records the operation"):
        check_transition(current, "donated", "operated")


@pytest.mark.parametrize("current,target", [("donated", "withdrawn"), ("donated", "in_evaluation")])
def test_illegal_manual_transitions_are_refused_with_the_allowed_ones(current, target):
    with pytest.raises(IllegalTransition) as error:
        check_transition(current, target, "reason")
    assert f"cannot move from {Status(current).label.lower()}" in str(error.value)
    assert "allowed: none" in str(error.value)


def test_the_manual_status_change_offers_no_clinical_decision():
    assert allowed_targets("in_evaluation") == [Status.WITHDRAWN]
    assert allowed_targets("suitable") == [Status.IN_EVALUATION, Status.WITHDRAWN]
    assert allowed_targets("candidate") == [Status.IN_EVALUATION, Status.WITHDRAWN]
    assert allowed_targets("withdrawn") == [Status.CANDIDATE]
    assert allowed_targets("in_evaluation", Door.DECISION) == [
        Status.SUITABLE,
        Status.SUITABLE_WITH_CONDITIONS,
        Status.NOT_SUITABLE,
    ]
    assert allowed_targets("suitable", Door.OPERATION) == [Status.DONATED]


@pytest.mark.parametrize(
    "current,expected",
    [
        ("suitable", None),
        ("suitable_with_conditions", None),
        (
            "in_evaluation",
            "this donor is in evaluation: the team's decision (sign-offs by the radiologist, "
            "hepatologist and surgeon) must accept the donor first",
        ),
        ("not_suitable", "this donor is not suitable: the team decided not suitable"),
        ("donated", "the operation of this donor is already recorded"),
    ],
)
def test_an_operation_is_recorded_only_for_an_accepted_donor(current, expected):
    refusal = operation_refusal(current)
    if expected is None:
        assert refusal is None
    else:
        assert expected in refusal


def test_same_status_is_refused():
    with pytest.raises(IllegalTransition, match="already candidate"):
        check_transition("candidate", "candidate", "x")


@pytest.mark.parametrize("reason", ["", "   "])
def test_reason_is_required(reason):
    with pytest.raises(IllegalTransition, match="reason is required"):
        check_transition("candidate", "in_evaluation", reason)


def test_unknown_status_is_named():
    with pytest.raises(IllegalTransition, match="unknown status 'approved'"):
        check_transition("candidate", "approved", "x")


def test_donated_is_final():
    assert allowed_targets("donated") == []
    assert allowed_targets("donated", Door.OPERATION) == []


def test_the_signing_roles_are_the_decision_models():
    from core.roles import Role
    from donors.workflow import SIGNING_ROLES

    assert tuple(r.value for r in (Role.RADIOLOGIST, Role.HEPATOLOGIST, Role.SURGEON)) == SIGNING_ROLES
