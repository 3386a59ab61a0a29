"""API clients and audit events now live in core (core 0001_initial): remove them from donors' state.

The tables (donors_apiclient, donors_auditevent) and their rows stay; only Django's record of
which app a model belongs to changes. The content types follow, so that admin permissions, admin
log entries and anything else pointing at a content type keep pointing at the same models."""

from django.db import migrations

MOVED_MODELS = ("apiclient", "auditevent")


def _relabel_content_types(apps, *, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MOVED_MODELS:
        if content_type.objects.filter(app_label=new, model=model).exists():
            continue  # already there (created by an earlier post-migrate run): nothing to carry over
        content_type.objects.filter(app_label=old, model=model).update(app_label=new)


def content_types_to_core(apps, schema_editor):
    _relabel_content_types(apps, old="donors", new="core")


def content_types_to_donors(apps, schema_editor):
    _relabel_content_types(apps, old="core", new="donors")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_initial"),
        ("donors", "0005_audit_target_centre"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # AuditEvent first: it points at ApiClient.
            state_operations=[migrations.DeleteModel(name="AuditEvent"), migrations.DeleteModel(name="ApiClient")],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_core, content_types_to_donors),
    ]
