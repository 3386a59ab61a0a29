"""Template helpers for the imaging pages."""

import json

from django import template

register = template.Library()


@register.simple_tag
def donor_studies(donor):
    """The donor's studies with their series (the page itself checks VIEW_IMAGES)."""
    from imaging.selectors import studies_of

    return studies_of(donor=donor)


@register.filter
def short_uid(uid: str) -> str:
    return uid if len(uid) <= 22 else f"…{uid[-20:]}"


@register.filter
def to_json(value) -> str:
    """JSON text for an attribute (the template escapes it)."""
    return json.dumps(value)


@register.filter
def dicom_name(value: str) -> str:
    """'Family^Given' as people write it."""
    from imaging.identity import display_name

    return display_name(value or "")


@register.filter
def dicom_date(value: str) -> str:
    """A DICOM date (YYYYMMDD) as YYYY-MM-DD; anything else as it is, or a dash."""
    value = (value or "").strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or "—"


@register.inclusion_tag("imaging/tree_overlay.html")
def tree_overlay(proposal):
    """The proposal's ducts drawn over its series' MIP (the page itself checks VIEW_IMAGES)."""
    from imaging.selectors import tree_overlay as overlay

    return {"proposal": proposal, "overlay": overlay(proposal) if proposal is not None else None}
