"""Template helpers that show the PACS sends on pages of the apps below reports (which may not import it)."""

from django import template

from reports import selectors

register = template.Library()

SENDS_SHOWN = 5


@register.inclusion_tag("reports/anatomy_pacs.html", takes_context=True)
def anatomy_pacs_panel(context, annotation, *, may_send: bool) -> dict:
    """The final anatomy's "Send to PACS" button (for who may send it) and its last sends. The page itself
    has checked that the user sees the donor."""
    if annotation is None or annotation.state != annotation.State.FINAL:
        return {"shown": False}
    return {
        "shown": True,
        "annotation": annotation,
        "may_send": may_send,
        "destination": selectors.pacs_destination_of(annotation.donor),
        "sends": selectors.anatomy_pacs_sends(annotation, last=SENDS_SHOWN),
        "shown_at_most": SENDS_SHOWN,
    }
