"""What every server-rendered page shares: the actor of a request and errors placed on a form."""

from __future__ import annotations

from .audit import Actor, actor_from_request
from .errors import DomainError


def page_actor(request) -> Actor:
    return actor_from_request(request, channel="page")


def apply_errors(form, error: DomainError) -> None:
    """Put a service's field errors next to their fields; the rest (or the message) on the form."""
    placed = False
    for field, reasons in error.fields.items():
        for reason in reasons:
            form.add_error(field if field in form.fields else None, reason)
            placed = True
    if not placed:
        form.add_error(None, error.message)
