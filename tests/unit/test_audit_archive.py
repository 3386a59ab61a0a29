"""Archiving old audit events: whole months move to checked, compressed files in storage, the
hot table keeps the rest, each centre is told where its events went, and nothing moves without
the retention setting."""

import datetime
import gzip
import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from core import audit_archive
from core.audit import Actor, record_event
from core.models import AuditEvent

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime.datetime(2026, 6, 15, 12, 0))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.AUDIT_ARCHIVE_AFTER_MONTHS = 3


def event_at(when, *, centre, user, summary):
    """An event recorded as it would be, then dated in the past (the model dates every new row now)."""
    event = record_event(
        actor=Actor(user=user), kind=AuditEvent.Kind.READ, record_type="donors.Donor", record_id=1, summary=summary
    )
    with connection.cursor() as cursor:
        at = AuditEvent._meta.get_field("at").get_db_prep_value(when, connection)
        cursor.execute("UPDATE donors_auditevent SET at = %s WHERE id = %s", [at, event.pk])
    assert event.centre_id == centre.pk
    return event.pk


def aware(*args):
    return timezone.make_aware(datetime.datetime(*args))


def test_whole_months_older_than_the_setting_move_to_checked_files(centre, make_user):
    user = make_user("radiologist")
    old = [
        event_at(aware(2025, 12, 31, 23, 59), centre=centre, user=user, summary="december"),
        event_at(aware(2026, 2, 1, 0, 0), centre=centre, user=user, summary="february, first"),
        event_at(aware(2026, 2, 27, 8, 0), centre=centre, user=user, summary="february, last"),
    ]
    kept = event_at(aware(2026, 3, 1, 0, 0), centre=centre, user=user, summary="march")  # cutoff: 2026-03-01

    archived = audit_archive.archive_old_events(actor=None, now=NOW)

    assert [(m.month.isoformat(), m.rows) for m in archived] == [("2025-12-01", 1), ("2026-02-01", 2)]
    assert not AuditEvent.objects.filter(pk__in=old).exists()
    assert AuditEvent.objects.filter(pk=kept).exists()
    february = archived[1]
    with default_storage.open(february.name, "rb") as stored:
        lines = [json.loads(line) for line in gzip.decompress(stored.read()).splitlines()]
    assert [line["id"] for line in lines] == old[1:]
    assert [line["summary"] for line in lines] == ["february, first", "february, last"]
    assert lines[0]["centre_id"] == centre.pk and lines[0]["user_id"] == user.pk
    # The centre's auditor learns where the events went.
    notes = AuditEvent.objects.filter(record_type="core.AuditArchive", centre_id=centre.pk).order_by("record_id")
    assert [(n.record_id, n.changes["events"], n.changes["file"]) for n in notes] == [
        ("2025-12", 1, archived[0].name),
        ("2026-02", 2, february.name),
    ]
    assert notes[1].changes["sha256"] == february.sha256
    # A second run finds nothing more to move.
    assert audit_archive.archive_old_events(actor=None, now=NOW) == []


def test_a_file_that_does_not_read_back_removes_nothing(centre, make_user, monkeypatch):
    user = make_user("radiologist")
    old = event_at(aware(2025, 1, 10), centre=centre, user=user, summary="old")
    real_open = default_storage.open

    def corrupted(name, mode="rb"):
        handle = real_open(name, mode)
        data = gzip.decompress(handle.read()).replace(b"old", b"odd")
        handle.close()
        import io

        return io.BytesIO(gzip.compress(data))

    monkeypatch.setattr(default_storage, "open", corrupted)
    with pytest.raises(RuntimeError, match="does not read back"):
        audit_archive.archive_old_events(actor=None, now=NOW)
    assert AuditEvent.objects.filter(pk=old).exists()
    assert not AuditEvent.objects.filter(record_type="core.AuditArchive").exists()
    assert not default_storage.exists("audit-archive/audit-events-2025-01.jsonl.gz")


def test_the_command_refuses_without_the_setting_and_moves_nothing(settings, centre, make_user):
    old = event_at(aware(2020, 5, 5), centre=centre, user=make_user("radiologist"), summary="old")
    settings.AUDIT_ARCHIVE_AFTER_MONTHS = None
    with pytest.raises(CommandError, match="AUDIT_ARCHIVE_AFTER_MONTHS"):
        call_command("archive_audit_events")
    settings.AUDIT_ARCHIVE_AFTER_MONTHS = 0
    with pytest.raises(CommandError, match="AUDIT_ARCHIVE_AFTER_MONTHS"):
        call_command("archive_audit_events")
    assert AuditEvent.objects.filter(pk=old).exists()


def test_the_command_archives_and_a_dry_run_only_names_the_months(centre, make_user, capsys):
    old = event_at(aware(2020, 5, 5), centre=centre, user=make_user("radiologist"), summary="old")
    call_command("archive_audit_events", "--dry-run")
    assert "2020-05" in capsys.readouterr().out
    assert AuditEvent.objects.filter(pk=old).exists()
    call_command("archive_audit_events")
    assert "2020-05: 1 events" in capsys.readouterr().out
    assert not AuditEvent.objects.filter(pk=old).exists()
