"""What every server-rendered page shares: the actor of a request, errors placed on a form, and
a paginator for tables too long to count."""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator

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


class BoundedPaginator(Paginator):
    """Counts at most `count_limit` rows: an exact count of millions of rows (the audit trail)
    takes seconds, and nobody pages through them. Past the limit the page says "more than"
    and the last reachable page is the limit's; a narrower search reaches older rows."""

    def __init__(self, object_list, per_page, *, count_limit: int = 10_000, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.count_limit = count_limit

    @cached_property
    def _counted(self) -> int:
        return self.object_list[: self.count_limit + 1].count()  # stops at one past the limit

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.count_limit)

    @property
    def count_exceeded(self) -> bool:
        return self._counted > self.count_limit
