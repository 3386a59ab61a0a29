"""Series imported before a slice could be a frame of a multi-frame image get one slice per instance."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from imaging.models import Instance, Series
from imaging.slices import slice_at
from tests.factories import DonorFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BEFORE = [("imaging", "0004_upload_centre")]


def test_an_existing_series_counts_its_instances_as_slices(centre):
    donor = DonorFactory(centre=centre)
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE)
        old_apps = executor.loader.project_state(BEFORE).apps
        study = old_apps.get_model("imaging", "Study").objects.create(
            centre_id=centre.pk, donor_id=donor.pk, study_instance_uid="1.2.3"
        )
        old = old_apps.get_model("imaging", "Series").objects.create(
            study=study, series_instance_uid="1.2.3.4", instance_count=3
        )
        for index in range(3):
            old_apps.get_model("imaging", "Instance").objects.create(
                series=old, donor_id=donor.pk, sop_instance_uid=f"1.2.3.4.{index}", slice_index=index, rows=8, columns=8
            )
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
        series = Series.objects.get(pk=old.pk)
        assert series.slice_count == 3
        assert [slice_at(series, index) for index in range(3)] == [
            (Instance.objects.get(sop_instance_uid=f"1.2.3.4.{index}"), 0) for index in range(3)
        ]
        assert slice_at(series, 3) is None
    finally:
        MigrationExecutor(connection).migrate(latest)
