"""Uploads made before an upload could be without a donor get their donor's centre when migrated."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from imaging.models import Upload
from tests.factories import DonorFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BEFORE = [("imaging", "0003_dicom_peer")]


def test_an_existing_upload_gets_its_donors_centre(centre):
    donor = DonorFactory(centre=centre)
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE)
        old_apps = executor.loader.project_state(BEFORE).apps
        old = old_apps.get_model("imaging", "Upload").objects.create(donor_id=donor.pk, channel="page")
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
        upload = Upload.objects.get(pk=old.pk)
        assert upload.centre_id == centre.pk and upload.donor_id == donor.pk
    finally:
        MigrationExecutor(connection).migrate(latest)
