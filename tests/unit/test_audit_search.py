"""The audit trail page at scale: a count that stops a few pages ahead, and filters by day, user,
donor and kind that keep their meaning while reading indexes."""

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.audit import Actor, record_event
from core.models import AuditEvent
from core.pages import BoundedPaginator
from donors import selectors

pytestmark = pytest.mark.django_db


def dated(when, **values):
    event = record_event(kind=AuditEvent.Kind.READ, record_type="donors.Donor", record_id=1, **values)
    with connection.cursor() as cursor:
        at = AuditEvent._meta.get_field("at").get_db_prep_value(when, connection)
        cursor.execute("UPDATE donors_auditevent SET at = %s WHERE id = %s", [at, event.pk])
    return event.pk


def test_the_count_stops_a_few_pages_past_the_one_asked_for(centre, make_user):
    user = make_user("radiologist")
    for n in range(1, 24):
        record_event(actor=Actor(user=user), kind=AuditEvent.Kind.READ, record_type="donors.Donor", record_id=n)
    events = AuditEvent.objects.filter(centre_id=centre.pk).order_by("-at", "-pk")
    first = BoundedPaginator(events, 5, pages_ahead=2).get_page(1)
    assert (first.paginator.count, first.paginator.count_exceeded, first.paginator.num_pages) == (15, True, 3)
    assert first.has_next()
    third = BoundedPaginator(events, 5, pages_ahead=2).get_page("3")
    assert (third.paginator.count, third.paginator.count_exceeded) == (23, False)
    assert [e.record_id for e in third.object_list] == ["13", "12", "11", "10", "9"]
    last = BoundedPaginator(events, 5, pages_ahead=2).get_page(5)
    assert [e.record_id for e in last.object_list] == ["3", "2", "1"] and not last.has_next()


def test_the_audit_page_says_more_than_when_the_count_stops(centre, make_user):
    auditor = make_user("auditor")
    user = make_user("radiologist")
    for n in range(11 * 50 + 1):
        record_event(actor=Actor(user=user), kind=AuditEvent.Kind.READ, record_type="donors.Donor", record_id=n)
    client = Client()
    client.force_login(auditor)
    page = client.get(reverse("donors:audit")).content.decode()
    assert "Page 1 of more than 11 (over 550" in page
    assert client.get(reverse("donors:audit") + "?page=2").content.decode().count("Page 2 of 12 (") == 1


def test_filters_keep_their_meaning(settings, centre, make_user, donor):
    settings.TIME_ZONE = "Europe/Paris"
    timezone.activate("Europe/Paris")
    try:
        auditor, user, other = make_user("auditor"), make_user("radiologist"), make_user("coordinator")
        paris = timezone.get_current_timezone()
        late = dated(datetime.datetime(2026, 3, 9, 23, 30, tzinfo=paris), actor=Actor(user=user), donor=donor)
        early = dated(datetime.datetime(2026, 3, 10, 0, 30, tzinfo=paris), actor=Actor(user=other), donor=donor)
        dated(datetime.datetime(2026, 3, 11, 0, 0, tzinfo=paris), actor=Actor(user=user))
        actor = Actor(user=auditor)
        day = datetime.date(2026, 3, 9)

        def ids(**filters):
            return [e.pk for e in selectors.audit_trail(actor=actor, **filters)]

        assert ids(date_from=day, date_to=day) == [late]  # 23:30 in Paris: the 9th there, 22:30 UTC
        assert ids(date_from=day + datetime.timedelta(days=1), date_to=day + datetime.timedelta(days=1)) == [early]
        assert ids(username=user.username.upper(), donor_code=donor.code.lower()) == [late]
        assert ids(username="nobody") == []
        assert ids(kind="update") == []
        assert ids(kind="read", donor_code=donor.code) == [early, late]
    finally:
        timezone.deactivate()


def test_a_page_and_its_bounded_count_come_in_one_query_and_leave_the_rows_as_they_were(
    centre, make_user, django_assert_num_queries
):
    user = make_user("radiologist")
    for n in range(1, 24):
        record_event(actor=Actor(user=user), kind=AuditEvent.Kind.READ, record_type="donors.Donor", record_id=n)
    events = AuditEvent.objects.filter(centre_id=centre.pk).order_by("-at", "-pk")
    with django_assert_num_queries(1):
        page = BoundedPaginator(events, 5, pages_ahead=2).get_page(2)
        assert (page.paginator.count, page.paginator.count_exceeded, page.paginator.num_pages) == (20, True, 4)
    assert [e.record_id for e in page.object_list] == ["18", "17", "16", "15", "14"]
    assert all("_bounded_count" not in vars(e) for e in page.object_list)

    rows = events.values("record_id", "kind")
    with django_assert_num_queries(1):
        fourth = BoundedPaginator(rows, 5, pages_ahead=2).page(4)
        assert (fourth.paginator.count, fourth.paginator.count_exceeded) == (23, False)
    assert list(fourth.object_list) == [{"record_id": str(n), "kind": "read"} for n in range(8, 3, -1)]

    past = BoundedPaginator(events, 5, pages_ahead=2).get_page(9)  # past the end: the last page, as before
    assert [e.record_id for e in past.object_list] == ["3", "2", "1"]


def test_a_page_number_past_any_list_is_no_such_page_not_a_database_error(centre, make_user):
    from django.core.paginator import EmptyPage

    user = make_user("radiologist")
    for n in range(1, 4):
        record_event(actor=Actor(user=user), kind=AuditEvent.Kind.READ, record_type="donors.Donor", record_id=n)
    events = AuditEvent.objects.filter(centre_id=centre.pk).order_by("-at", "-pk")
    huge = 10350708520955379831537664
    with pytest.raises(EmptyPage):
        BoundedPaginator(events, 5).page(huge)
    with pytest.raises(EmptyPage):
        BoundedPaginator(events, 5).page(str(huge))
    shown = BoundedPaginator(events, 5).get_page(huge)  # a page of the web: the last one
    assert [e.record_id for e in shown.object_list] == ["3", "2", "1"]
