"""Template helpers for the workup sections of other apps' pages (the donor page)."""

from django import template

from workup.checklist import workup_steps as steps_of
from workup.criteria import threshold_label as label_of

register = template.Library()


@register.simple_tag
def workup_steps(donor):
    """The donor's workup steps; `.summary` holds the evaluated checks (see workup.checklist)."""
    return steps_of(donor=donor)


@register.filter
def threshold_label(name: str) -> str:
    """A threshold's name in words (see workup.criteria.threshold_label)."""
    return label_of(name)
