"""The workup's models now live in the `workup` app (workup 0001): state only, their tables stay.

Their content types follow them (app label donors -> workup), so permissions, admin log entries and
anything else that points at a content type keeps pointing at the same model."""

from django.db import migrations

# Lower-case model names, as content types store them; the historical models too.
MOVED_MODELS = (
    "labresult", "volumetry", "steatosisassessment", "hepaticarteryanatomy", "portalveinanatomy",
    "hepaticveinanatomy", "clearance", "centrethresholds", "decision", "decisionsignoff",
)
MOVED_CONTENT_TYPES = MOVED_MODELS + tuple(f"historical{name}" for name in MOVED_MODELS)


def _relabel_content_types(apps, old_label: str, new_label: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED_CONTENT_TYPES:
        if ContentType.objects.filter(app_label=new_label, model=model).exists():
            continue  # already there (created by a run of the new code): leave both alone
        ContentType.objects.filter(app_label=old_label, model=model).update(app_label=new_label)


def content_types_to_workup(apps, schema_editor):
    _relabel_content_types(apps, "donors", "workup")


def content_types_to_donors(apps, schema_editor):
    _relabel_content_types(apps, "workup", "donors")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("donors", "0006_move_audit_and_tokens_to_core"),
        ("workup", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                # Historical models and sign-offs first: they point at the decision.
                *[migrations.DeleteModel(name=f"Historical{name}") for name in (
                    "DecisionSignOff", "Decision", "CentreThresholds", "Clearance", "HepaticVeinAnatomy",
                    "PortalVeinAnatomy", "HepaticArteryAnatomy", "SteatosisAssessment", "Volumetry", "LabResult",
                )],
                migrations.DeleteModel(name="DecisionSignOff"),
                migrations.DeleteModel(name="Decision"),
                migrations.DeleteModel(name="CentreThresholds"),
                migrations.DeleteModel(name="Clearance"),
                migrations.DeleteModel(name="HepaticVeinAnatomy"),
                migrations.DeleteModel(name="PortalVeinAnatomy"),
                migrations.DeleteModel(name="HepaticArteryAnatomy"),
                migrations.DeleteModel(name="SteatosisAssessment"),
                migrations.DeleteModel(name="Volumetry"),
                migrations.DeleteModel(name="LabResult"),
            ],
        ),
        migrations.RunPython(content_types_to_workup, content_types_to_donors),
    ]
