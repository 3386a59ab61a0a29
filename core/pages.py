"""What every server-rendered page shares: the actor of a request, errors placed on a form, and
a paginator for tables too long to count."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable, ValuesIterable

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


PAGES_AHEAD = 10  # how far past the page asked for a bounded count looks
# No list has this many rows; past it a row offset would not fit PostgreSQL's bigint (a forged
# `?page=10000000000000000000000` would be a database error, not "no such page").
LAST_ROW = 2**62
COUNT_KEY = "_bounded_count"  # the annotation a page's rows carry the count in


class BoundedPaginator(Paginator):
    """Counts no further than `pages_ahead` pages past the one asked for: an exact count of
    millions of rows (the audit trail) takes seconds, and nobody pages through them. Past that
    bound the page says "more than", and the next pages stay reachable one bound at a time."""

    def __init__(self, object_list, per_page, *, pages_ahead: int = PAGES_AHEAD, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.pages_ahead = pages_ahead
        self.count_limit = (1 + pages_ahead) * self.per_page

    def _bound_to(self, number) -> None:
        if "_counted" in self.__dict__:  # counted already: the bound it was counted to stays
            return
        try:
            wanted = max(1, int(number))
        except (TypeError, ValueError):
            wanted = 1
        if (wanted + self.pages_ahead) * self.per_page > LAST_ROW:
            wanted = 1  # no such page: page() says so, get_page() shows the last page the bound reaches
        self.count_limit = (wanted + self.pages_ahead) * self.per_page

    def get_page(self, number):
        self._bound_to(number)
        return super().get_page(number)

    def page(self, number):
        self._bound_to(number)
        page = self._page_carrying_its_count(number)
        return page if page is not None else super().page(number)

    def _page_carrying_its_count(self, number):
        """The page's rows and the bounded count in one query: each row carries the count as an
        uncorrelated subquery (PostgreSQL runs it once). A list that is polled pays one round trip
        instead of two. None when that cannot be done: a list, tuples, a combined queryset, orphans,
        a page past the end (the plain count then says how far the pages go)."""
        rows: Any = self.object_list
        if (
            "_counted" in self.__dict__
            or self.orphans
            or getattr(rows, "_iterable_class", None) not in (ModelIterable, ValuesIterable)
            or rows.query.combinator
        ):
            return None
        try:
            wanted = int(number) if not isinstance(number, float) else 0
        except (TypeError, ValueError):
            return None  # Django's own validation raises the right error
        if wanted < 1 or wanted * self.per_page > LAST_ROW:
            return None
        inner = rows.order_by().values("pk")[: self.count_limit + 1]
        sql, params = inner.query.sql_with_params()
        bottom = (wanted - 1) * self.per_page
        found = list(
            rows.annotate(**{COUNT_KEY: RawSQL(f"SELECT COUNT(*) FROM ({sql}) AS bounded", params)})[
                bottom : bottom + self.per_page
            ]
        )
        if not found:
            return None
        for row in found:  # the count leaves the rows as they were
            counted = row.pop(COUNT_KEY) if isinstance(row, dict) else row.__dict__.pop(COUNT_KEY)
        self.__dict__["_counted"] = counted
        return Page(found, self.validate_number(wanted), self)

    @cached_property
    def _counted(self) -> int:
        # A queryset: the count stops at one past the bound. It drops the ordering: any rows
        # count, and an ordered LIMIT makes PostgreSQL fetch and sort every match when no index
        # gives that exact order (a quiet user's 30,000 scattered events at ten million).
        rows: Any = self.object_list
        if not hasattr(rows, "order_by"):  # a list
            return len(rows[: self.count_limit + 1])
        return rows.order_by().values("pk")[: self.count_limit + 1].count()  # one narrow column to count

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.count_limit)

    @property
    def count_exceeded(self) -> bool:
        return self._counted > self.count_limit
