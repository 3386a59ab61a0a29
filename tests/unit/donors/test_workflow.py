import pytest

from donors.workflow import IllegalTransition, Status, allowed_targets, check_transition


@pytest.mark.parametrize(
    "current,target",
    [
        ("candidate", "in_evaluation"),
        ("candidate", "withdrawn"),
        ("in_evaluation", "suitable"),
        ("in_evaluation", "suitable_with_conditions"),
        ("in_evaluation", "not_suitable"),
        ("in_evaluation", "withdrawn"),
        ("suitable", "donated"),
        ("suitable_with_conditions", "donated"),
        ("not_suitable", "in_evaluation"),
        ("withdrawn", "candidate"),
    ],
)
def test_allowed_transitions_pass(current, target):
    check_transition(current, target, "team meeting 12 May")


@pytest.mark.parametrize(
    "current,target",
    [
        ("candidate", "suitable"),
        ("candidate", "donated"),
        ("in_evaluation", "donated"),
        ("not_suitable", "donated"),
        ("donated", "withdrawn"),
        ("donated", "in_evaluation"),
        ("withdrawn", "donated"),
    ],
)
def test_illegal_transitions_are_refused_with_the_allowed_ones(current, target):
    with pytest.raises(IllegalTransition) as error:
        check_transition(current, target, "reason")
    assert f"cannot move from {Status(current).label.lower()}" in str(error.value)
    assert "allowed:" in str(error.value)


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
