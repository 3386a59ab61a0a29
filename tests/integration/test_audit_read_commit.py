"""AUDIT_READ_COMMIT=asynchronous: an event that records a read commits without waiting for the disk,
in a transaction of its own; a change's event, a refused attempt's, and any event written inside a
transaction that may hold a change keep waiting for it, and the connection is left as it was."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.audit import record_event
from core.models import AuditEvent
from tests.factories import DonorFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

LOOSENED = "SET LOCAL synchronous_commit TO OFF"


def statements(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.fixture
def asynchronous_reads(settings):
    settings.AUDIT_READ_COMMIT = "asynchronous"


def test_a_listed_page_commits_its_event_alone_without_waiting_for_the_disk(asynchronous_reads, users, api_as, centre):
    donors = DonorFactory.create_batch(3, centre=centre)
    client = api_as(users["coordinator"])
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/donors/")
    assert response.status_code == 200
    sql = statements(captured)
    loosened = [n for n, text in enumerate(sql) if text == LOOSENED]
    assert len(loosened) == 1
    assert sql[loosened[0] + 1].startswith('INSERT INTO "donors_auditevent"')
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.LIST)
    assert sorted(event.changes["donor_codes"]) == sorted(donor.code for donor in donors)
    assert synchronous_commit() == "on"  # SET LOCAL ended with the event's transaction


def test_a_change_and_its_event_still_wait_for_the_disk(asynchronous_reads, users, api_as, centre):
    donor = DonorFactory(centre=centre)
    client = api_as(users["coordinator"])
    with CaptureQueriesContext(connection) as captured:
        response = client.patch(
            f"/api/v1/donors/{donor.pk}/", {"given_name": "Renamed", "version": donor.version}, format="json"
        )
    assert response.status_code == 200, response.content
    assert LOOSENED not in statements(captured)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.UPDATE, donor_id=donor.pk).exists()


def test_a_read_event_inside_a_transaction_never_loosens_it(asynchronous_reads, users, actor_for, centre):
    donor = DonorFactory(centre=centre)
    actor = actor_for(users["coordinator"])
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        record_event(actor=actor, kind=AuditEvent.Kind.READ, record=donor, summary="viewed")
        assert synchronous_commit() == "on"
    assert LOOSENED not in statements(captured)


def test_a_refused_attempt_waits_for_the_disk(asynchronous_reads, users, actor_for, other_centre):
    stranger = DonorFactory(centre=other_centre)
    actor = actor_for(users["coordinator"])
    with CaptureQueriesContext(connection) as captured:
        record_event(actor=actor, kind=AuditEvent.Kind.DENIED, record=stranger, summary="refused")
    assert LOOSENED not in statements(captured)


def test_by_default_read_events_wait_for_the_disk(users, api_as, centre):
    DonorFactory.create_batch(2, centre=centre)
    with CaptureQueriesContext(connection) as captured:
        response = api_as(users["coordinator"]).get("/api/v1/donors/")
    assert response.status_code == 200
    assert LOOSENED not in statements(captured)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LIST).count() == 1
