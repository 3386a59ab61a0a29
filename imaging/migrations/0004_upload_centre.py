import django.db.models.deletion
from django.db import migrations, models


def centre_from_donor(apps, schema_editor):
    Upload = apps.get_model("imaging", "Upload")
    Donor = apps.get_model("donors", "Donor")
    Upload.objects.update(
        centre_id=models.Subquery(Donor.objects.filter(pk=models.OuterRef("donor_id")).values("centre_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("donors", "0007_move_workup_models_out"),
        ("imaging", "0003_dicom_peer"),
    ]

    operations = [
        migrations.AddField(
            model_name="upload",
            name="centre",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="image_uploads", to="donors.centre"
            ),
        ),
        migrations.RunPython(centre_from_donor, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="upload",
            name="centre",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="image_uploads", to="donors.centre"
            ),
        ),
        migrations.AlterField(
            model_name="upload",
            name="donor",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty for studies received for the centre that name no single donor (unmatched studies).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="image_uploads",
                to="donors.donor",
            ),
        ),
        migrations.AlterField(
            model_name="upload",
            name="channel",
            field=models.CharField(default="page", help_text="page, api, command or dicom", max_length=10),
        ),
    ]
