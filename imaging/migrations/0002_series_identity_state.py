"""Studies get an explicit identity state (matched, unresolved, confirmed, detached) and their centre,
so that a study detached from a donor stays in the centre's unmatched studies with its files."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill_centre_and_state(apps, schema_editor):
    Study = apps.get_model("imaging", "Study")
    for study in Study.objects.select_related("donor").iterator():
        study.centre_id = study.donor.centre_id
        if study.identity_warning:
            confirmed = study.identity_acknowledged_at is not None
            study.identity_state = "confirmed" if confirmed else "unresolved"
            if confirmed:
                study.identity_reason = "acknowledged before a reason was asked for"
        study.save(update_fields=["centre", "identity_state", "identity_reason"])


class Migration(migrations.Migration):

    dependencies = [
        ('donors', '0003_historical_donors_unknown_demographics'),
        ('imaging', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalstudy',
            name='centre',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='donors.centre'),
        ),
        migrations.AddField(
            model_name='historicalstudy',
            name='detached_from',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text='The donor the study was last detached from.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='donors.donor'),
        ),
        migrations.AddField(
            model_name='historicalstudy',
            name='identity_reason',
            field=models.CharField(blank=True, help_text='Why the radiologist confirmed or detached the study.', max_length=300),
        ),
        migrations.AddField(
            model_name='historicalstudy',
            name='identity_state',
            field=models.CharField(choices=[('matched', 'Matches the donor'), ('unresolved', 'Identity unresolved'), ('confirmed', "Confirmed as the donor's"), ('detached', 'Detached from the donor')], default='matched', max_length=10),
        ),
        migrations.AddField(
            model_name='study',
            name='centre',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='studies', to='donors.centre'),
        ),
        migrations.AddField(
            model_name='study',
            name='detached_from',
            field=models.ForeignKey(blank=True, help_text='The donor the study was last detached from.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='donors.donor'),
        ),
        migrations.AddField(
            model_name='study',
            name='identity_reason',
            field=models.CharField(blank=True, help_text='Why the radiologist confirmed or detached the study.', max_length=300),
        ),
        migrations.AddField(
            model_name='study',
            name='identity_state',
            field=models.CharField(choices=[('matched', 'Matches the donor'), ('unresolved', 'Identity unresolved'), ('confirmed', "Confirmed as the donor's"), ('detached', 'Detached from the donor')], default='matched', max_length=10),
        ),
        migrations.AlterField(
            model_name='historicalstudy',
            name='donor',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text="Empty for a study detached from a donor: it waits among the centre's unmatched studies.", null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='donors.donor'),
        ),
        migrations.AlterField(
            model_name='historicalstudy',
            name='identity_acknowledged_by',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text='Who confirmed or detached the study.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='historicalstudy',
            name='identity_warning',
            field=models.TextField(blank=True, help_text='The files name someone else (or no one): a radiologist must confirm or detach.'),
        ),
        migrations.AlterField(
            model_name='instance',
            name='donor',
            field=models.ForeignKey(blank=True, help_text="The donor of the series' study; empty while the study is detached.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='donors.donor'),
        ),
        migrations.AlterField(
            model_name='study',
            name='donor',
            field=models.ForeignKey(blank=True, help_text="Empty for a study detached from a donor: it waits among the centre's unmatched studies.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='studies', to='donors.donor'),
        ),
        migrations.AlterField(
            model_name='study',
            name='identity_acknowledged_by',
            field=models.ForeignKey(blank=True, help_text='Who confirmed or detached the study.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='study',
            name='identity_warning',
            field=models.TextField(blank=True, help_text='The files name someone else (or no one): a radiologist must confirm or detach.'),
        ),
        migrations.RunPython(fill_centre_and_state, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='study',
            name='centre',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='studies', to='donors.centre'),
        ),
        migrations.AddConstraint(
            model_name='study',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('donor__isnull', True), ('identity_state', 'detached')), models.Q(('donor__isnull', False), models.Q(('identity_state', 'detached'), _negated=True)), _connector='OR'), name='study_detached_iff_no_donor'),
        ),
    ]
