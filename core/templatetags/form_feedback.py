"""The error summary of a form: one line per problem, each pointing at its field."""

from __future__ import annotations

from dataclasses import dataclass

from django import template

register = template.Library()


@dataclass(frozen=True)
class Problem:
    target: str  # the id of the control to go to; empty for a problem of the whole form
    label: str
    message: str


@dataclass(frozen=True)
class ErrorSummary:
    problems: list[Problem]

    @property
    def heading(self) -> str:
        count = len(self.problems)
        return "There is 1 problem" if count == 1 else f"There are {count} problems"


def _target(field) -> str:
    """The id a link reaches: the control's own, or the first choice of a radio or checkbox group."""
    if field.is_hidden:
        return ""
    return field.id_for_label or (f"{field.auto_id}_0" if field.auto_id else "")


@register.simple_tag
def error_summary(form) -> ErrorSummary | None:
    """The form's problems in the order of its fields, or None when it has none."""
    if form is None or not form.errors:
        return None
    problems = [Problem("", "", message) for message in form.non_field_errors()]
    for field in form:
        for message in field.errors:
            # A hidden field (the version a form was read at) is not something to go to: its problem is the form's.
            label = "" if field.is_hidden else str(field.label)
            problems.append(Problem(_target(field), label, message))
    return ErrorSummary(problems)
