"""Rules 2024.2 changed the shared upper stretch: an anatomy classified only under older rules
has no current result, so it must not show as classified. `manage.py reclassify` classifies it."""
from django.db import migrations
from django.db.models import Exists, OuterRef

RULES_VERSION_AT_THIS_MIGRATION = "2024.2"


def mark_stale_pending(apps, schema_editor):
    Annotation = apps.get_model("classification", "Annotation")
    ClassificationRun = apps.get_model("classification", "ClassificationRun")
    current = ClassificationRun.objects.filter(
        annotation=OuterRef("pk"), document_sha256=OuterRef("document_sha256"),
        rules_version=RULES_VERSION_AT_THIS_MIGRATION,
    )
    stale = Annotation.objects.annotate(has_current=Exists(current)).filter(has_current=False, classification="done")
    for annotation in stale:
        annotation.classification = "pending"
        annotation.save(update_fields=["classification"])


class Migration(migrations.Migration):
    dependencies = [("classification", "0001_initial")]
    operations = [migrations.RunPython(mark_stale_pending, migrations.RunPython.noop)]
