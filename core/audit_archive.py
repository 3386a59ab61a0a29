"""Moving old audit events out of the hot table into compressed files in storage.

The trail is append-only: events are never deleted, only moved. Whole calendar months older
than `AUDIT_ARCHIVE_AFTER_MONTHS` are written, one file per month, as gzip-compressed JSON
lines (one event per line, every column) to `audit-archive/` in the file storage; the file is
read back and checked (rows, ids and a SHA-256 of its content) before that month's rows leave
the table, in one transaction per month. Each centre whose events moved gets an event saying
which file holds them, so its auditor can find them.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from .audit import Actor, record_event
from .errors import InvalidInput
from .models import AuditEvent

ARCHIVE_FOLDER = "audit-archive"
BATCH_ROWS = 5000


@dataclass(frozen=True)
class ArchivedMonth:
    month: datetime.date
    rows: int
    name: str
    sha256: str


def archive_cutoff(*, now: datetime.datetime | None = None) -> datetime.datetime:
    """The first instant of the month `AUDIT_ARCHIVE_AFTER_MONTHS` months before this one."""
    months = settings.AUDIT_ARCHIVE_AFTER_MONTHS
    if months is None:
        raise InvalidInput(
            "archiving is not configured",
            fields={"AUDIT_ARCHIVE_AFTER_MONTHS": ["set how many months of events stay in the database"]},
        )
    if months < 1:
        raise InvalidInput(
            "archiving would take recent events",
            fields={"AUDIT_ARCHIVE_AFTER_MONTHS": ["must be at least 1"]},
        )
    local = timezone.localtime(now or timezone.now())
    index = local.year * 12 + (local.month - 1) - months
    return timezone.make_aware(datetime.datetime(index // 12, index % 12 + 1, 1))


def months_to_archive(cutoff: datetime.datetime) -> list[datetime.datetime]:
    oldest = AuditEvent.objects.filter(at__lt=cutoff).order_by("at").values_list("at", flat=True).first()
    if oldest is None:
        return []
    local = timezone.localtime(oldest)
    month = timezone.make_aware(datetime.datetime(local.year, local.month, 1))
    months = []
    while month < cutoff:
        months.append(month)
        month = _next_month(month)
    return months


def _next_month(month: datetime.datetime) -> datetime.datetime:
    local = timezone.localtime(month)
    year, number = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return timezone.make_aware(datetime.datetime(year, number, 1))


def _line(event: Mapping[str, Any]) -> bytes:
    return (json.dumps(event, default=str, sort_keys=True, separators=(",", ":")) + "\n").encode()


def archive_month(*, actor: Actor | None, month: datetime.datetime) -> ArchivedMonth | None:
    """Write one month's events to a file, check it, then remove them from the table."""
    end = _next_month(month)
    with transaction.atomic():
        # Locks the month's rows: what is written is exactly what is removed.
        events = AuditEvent.objects.filter(at__gte=month, at__lt=end).order_by("at", "id")
        ids = sorted(events.select_for_update().values_list("id", flat=True))
        if not ids:
            return None
        digest, rows, centres = hashlib.sha256(), 0, set[int]()
        with tempfile.TemporaryFile() as spool:
            with gzip.GzipFile(fileobj=spool, mode="wb") as compressed:
                for event in events.values().iterator(chunk_size=BATCH_ROWS):
                    line = _line(event)
                    digest.update(line)
                    compressed.write(line)
                    rows += 1
                    centres.update(c for c in (event["centre_id"], event["target_centre_id"]) if c is not None)
            spool.seek(0)
            label = timezone.localtime(month).strftime("%Y-%m")
            name = default_storage.save(f"{ARCHIVE_FOLDER}/audit-events-{label}.jsonl.gz", File(spool))
        _verify(name, rows=rows, ids=ids, sha256=digest.hexdigest())
        with connection.cursor() as cursor:
            # The trail's models refuse deletes; this is the one place that moves rows out.
            at = AuditEvent._meta.get_field("at")
            bounds = [at.get_db_prep_value(when, connection) for when in (month, end)]
            cursor.execute("DELETE FROM donors_auditevent WHERE at >= %s AND at < %s", bounds)
            if cursor.rowcount != rows:
                default_storage.delete(name)
                raise RuntimeError(f"{label}: {rows} events archived but {cursor.rowcount} would be removed")
        archived = ArchivedMonth(
            month=timezone.localtime(month).date(), rows=rows, name=name, sha256=digest.hexdigest()
        )
        for centre_id in sorted(centres):
            record_event(
                actor=actor,
                kind=AuditEvent.Kind.TRANSITION,
                record_type="core.AuditArchive",
                record_id=label,
                centre_id=centre_id,
                channel="command",
                summary=f"archived the audit events of {label} to {name}",
                changes={"month": label, "events": rows, "file": name, "sha256": archived.sha256},
            )
    return archived


def _verify(name: str, *, rows: int, ids: list[int], sha256: str) -> None:
    """Read the stored file back: the same lines, the same events, the same bytes."""
    digest, seen = hashlib.sha256(), []
    with default_storage.open(name, "rb") as stored, gzip.GzipFile(fileobj=stored, mode="rb") as lines:
        for line in lines:
            digest.update(line)
            seen.append(json.loads(line)["id"])
    if len(seen) != rows or sorted(seen) != ids or digest.hexdigest() != sha256:
        default_storage.delete(name)
        raise RuntimeError(f"the archive {name} does not read back as written; nothing was removed")


def archive_old_events(*, actor: Actor | None, now: datetime.datetime | None = None) -> list[ArchivedMonth]:
    """Every whole month older than the retention setting, oldest first."""
    cutoff = archive_cutoff(now=now)
    archived = []
    for month in months_to_archive(cutoff):
        done = archive_month(actor=actor, month=month)
        if done is not None:
            archived.append(done)
    return archived
