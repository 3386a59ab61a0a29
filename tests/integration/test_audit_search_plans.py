"""The auditor's searches read the indexes they were built for (PostgreSQL's plans, not timings: the
timings at ten million events are bench/audit_scale.py's). With sequential scans switched off the
planner shows what an index can answer; a search whose index lost a column shows a different plan."""

from __future__ import annotations

import pytest
from django.db import connection

from core.audit import Actor, record_event
from core.models import AuditEvent
from core.pages import BoundedPaginator
from donors import selectors

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("ANALYZE donors_auditevent")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_count_of_a_donors_events_reads_the_covering_index_alone(centre, make_user, donor):
    auditor, user = make_user("auditor"), make_user("radiologist")
    for _ in range(5):
        record_event(actor=Actor(user=user), kind=AuditEvent.Kind.READ, record=donor)
    events = selectors.audit_trail(actor=Actor(user=auditor), donor_code=donor.code.lower())
    paginator = BoundedPaginator(events, 50)
    counted = events.order_by().values("pk")[: paginator.count_limit + 1]
    assert "Index Only Scan using audit_donor_code_cover_idx" in plan_of(counted)
    page = paginator.get_page(1)
    assert paginator.count == 5 and len(page.object_list) == 5
    assert "audit_donor_code_cover_idx" in plan_of(events[:50])  # the page, newest first, from the same index
