"""The auditor's search by donor code at ten million events: the (code, newest first) index also
carries the id and the two centre columns, so the page's bounded count (up to eleven pages of one
donor's events, filtered to the auditor's centre) is read from the index alone instead of fetching
every matching row. The code itself is included because PostgreSQL takes an index-only scan only
when every column the query names is in the index, `donor_code` under UPPER() included.

Built concurrently on PostgreSQL before the narrower index it replaces is dropped, so audited
writes are never blocked."""

import django.db.models.functions.text
from django.db import migrations, models

from core.migrations._concurrently import AddIndexConcurrentlyOnPostgres, RemoveIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("core", "0002_audit_search_indexes")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="auditevent",
            index=models.Index(
                django.db.models.functions.text.Upper("donor_code"),
                models.OrderBy(models.F("at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                include=["donor_code", "centre", "target_centre"],
                name="audit_donor_code_cover_idx",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="auditevent", name="audit_donor_code_at_idx"),
    ]
