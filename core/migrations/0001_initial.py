"""API clients and audit events, moved from donors: their tables stay where they are.

State only: the models were created in donors (0001_initial, 0005_audit_target_centre) and keep
their tables, donors_apiclient and donors_auditevent, with every row. donors 0006 removes them
from donors' state once they are here."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("donors", "0005_audit_target_centre"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations = [
        migrations.CreateModel(
            name="ApiClient",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("key_prefix", models.CharField(max_length=12, unique=True)),
                ("key_hash", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="api_clients", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "db_table": "donors_apiclient",
            },
        ),
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("kind", models.CharField(choices=[("create", "Create"), ("update", "Update"), ("delete", "Delete"), ("read", "Read"), ("list", "List"), ("download", "Download"), ("transition", "Status change"), ("denied", "Refused")], max_length=12)),
                ("record_type", models.CharField(max_length=60)),
                ("record_id", models.CharField(blank=True, max_length=40)),
                ("donor_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("donor_code", models.CharField(blank=True, db_index=True, max_length=40)),
                ("channel", models.CharField(help_text="page, api, download, admin, command or worker", max_length=10)),
                ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                ("summary", models.CharField(blank=True, max_length=300)),
                ("changes", models.JSONField(blank=True, default=dict)),
                ("api_client", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="core.apiclient")),
                ("centre", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="donors.centre")),
                ("target_centre", models.ForeignKey(blank=True, help_text="For a refused attempt: the centre whose record was asked for.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="donors.centre")),
                ("user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "db_table": "donors_auditevent",
                "ordering": ["-at", "-id"],
                "indexes": [models.Index(fields=["centre", "-at"], name="donors_audi_centre__e6faf7_idx")],
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations, database_operations=[]),
    ]
