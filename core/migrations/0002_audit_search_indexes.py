"""Indexes for the auditor's searches at ten million events: by user, by kind, by donor code
and by donor id, each newest first. On PostgreSQL they are built concurrently (the trail takes
a row on every page view, and a plain CREATE INDEX would block those writes for minutes), then
the single-column donor_id and user indexes they make redundant are dropped."""

import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models

from core.migrations._concurrently import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("core", "0001_initial"),
        ("donors", "0007_move_workup_models_out"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="auditevent",
            index=models.Index(fields=["user", "-at"], name="audit_user_at_idx"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="auditevent",
            index=models.Index(fields=["kind", "-at"], name="audit_kind_at_idx"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="auditevent",
            index=models.Index(
                django.db.models.functions.text.Upper("donor_code"),
                models.OrderBy(models.F("at"), descending=True),
                name="audit_donor_code_at_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="auditevent",
            index=models.Index(fields=["donor_id", "-at"], name="audit_donor_at_idx"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="donor_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
