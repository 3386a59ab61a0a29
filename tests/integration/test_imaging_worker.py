"""A real Celery worker on Redis and PostgreSQL imports uploads: once, even when the message is
delivered twice, and to the end after a worker is killed in the middle of an import."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from core.audit import Actor
from imaging import jobs, services
from imaging.dicom import write_zip
from imaging.models import Instance, Series, Study, Upload, UploadFile, donor_folder
from imaging.tasks import ingest_upload_task
from tests.conftest import run_queue, start_worker, stop_worker
from tests.factories import DonorFactory
from tests.integration.imaging_support import as_uploads, phantom

KILL_QUEUE = run_queue("imaging_kill")

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture
def worker_donor(centre):
    """A donor whose id cannot meet a developer's own data in the shared media folder the worker uses."""
    donor = DonorFactory(centre=centre, pk=970_000 + int(time.time() * 1000) % 20_000)
    yield donor
    shutil.rmtree(Path(settings.MEDIA_ROOT) / donor_folder(donor.pk), ignore_errors=True)


def ready(upload_id):
    client_upload = Upload.objects.get(pk=upload_id)
    if client_upload.state != "done":
        return False
    return all(s.render_state == "done" for s in Series.objects.filter(study__donor_id=client_upload.donor_id))


def test_the_worker_imports_an_upload_once(celery_worker, worker_donor, make_user, tmp_path):
    truth = phantom(tmp_path / "s", donor=worker_donor, slices=30, size=128)
    archive = write_zip(truth.paths, tmp_path / "mrcp.zip")
    client = APIClient()
    client.force_authenticate(make_user("coordinator"))
    response = client.post(
        "/api/v1/uploads/", {"donor": worker_donor.pk, "files": as_uploads([archive])}, format="multipart"
    )
    assert response.status_code == 202
    upload_id = response.json()["id"]
    assert wait_for(lambda: ready(upload_id)), "the worker did not import and render the upload"
    body = client.get(f"/api/v1/uploads/{upload_id}/").json()
    assert (body["accepted"], body["duplicates"], body["rejected"], body["ready"]) == (30, 0, 0, True)
    series = Series.objects.get(study__donor=worker_donor)
    assert series.instance_count == 30 and series.mip_shape == [128, 128]
    assert (Path(settings.MEDIA_ROOT) / series.mip_path).exists()
    # The same message delivered twice more changes nothing.
    results = [ingest_upload_task.delay(upload_id) for _ in range(2)]
    assert [r.get(timeout=30) for r in results] == ["finished", "finished"]
    assert UploadFile.objects.filter(upload_id=upload_id).count() == 30
    assert Instance.objects.filter(donor=worker_donor).count() == 30


def test_a_worker_killed_mid_import_leaves_an_upload_another_worker_finishes(
    worker_donor, make_user, tmp_path, monkeypatch
):
    first = phantom(tmp_path / "a", donor=worker_donor, slices=60, size=64, seed=1)
    second = phantom(tmp_path / "b", donor=worker_donor, slices=10, size=64, seed=2)
    actor = Actor(user=make_user("radiologist"))
    monkeypatch.setattr(services, "queue_ingest", lambda upload_id: None)
    # Study B exists already, so the import must lock its row when it reaches B's files.
    early = services.create_upload(
        actor=actor,
        donor=worker_donor,
        files=[services.Incoming(second.paths[0].name, second.paths[0].stat().st_size, second.paths[0])],
    )
    jobs.ingest_upload(upload_id=early.pk)
    study_b = Study.objects.get(study_instance_uid=second.study_uid)
    paths = list(first.paths) + list(second.paths[1:])
    upload = services.create_upload(
        actor=actor,
        donor=worker_donor,
        files=[services.Incoming(f"{i:03d}-{p.name}", p.stat().st_size, p) for i, p in enumerate(paths)],
    )

    s = connection.settings_dict
    blocker = psycopg2.connect(
        dbname=s["NAME"], user=s["USER"] or "postgres", host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432
    )
    blocker.autocommit = False
    quick = {"CELERY_VISIBILITY_TIMEOUT": "3", "DICOM_INGEST_LEASE_SECONDS": "3", "DICOM_INGEST_BATCH_FILES": "20"}
    doomed = None
    try:
        blocker.cursor().execute("SELECT id FROM imaging_study WHERE id = %s FOR UPDATE", [study_b.pk])
        doomed = start_worker(queue=KILL_QUEUE, extra_env=quick)
        ingest_upload_task.apply_async(args=[upload.pk], queue=KILL_QUEUE)

        def waiting_on_lock():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s", [s["NAME"]]
                )
                return cursor.fetchone()[0] > 0

        assert wait_for(waiting_on_lock, timeout=60), "the import never reached study B"
        stop_worker(doomed, kill=True)
    finally:
        if doomed is not None:
            stop_worker(doomed, kill=True)
        blocker.rollback()
        blocker.close()
    stopped = Upload.objects.get(pk=upload.pk)
    committed = UploadFile.objects.filter(upload=stopped).count()
    assert stopped.state == "processing" and 0 < committed < len(paths)
    replacement = start_worker(queue=KILL_QUEUE, extra_env=quick)
    try:
        # Redis gives the killed worker's message back after its visibility timeout (slow to
        # observe); a second delivery stands for it here. Arriving while the dead worker's lease
        # may still run, it waits for the lease to end, then takes over.
        ingest_upload_task.apply_async(args=[upload.pk], queue=KILL_QUEUE)
        assert wait_for(lambda: Upload.objects.get(pk=upload.pk).state == "done", timeout=120), (
            "the import was not taken over"
        )
        assert wait_for(lambda: ready(upload.pk), timeout=60)
    finally:
        stop_worker(replacement)
    done = Upload.objects.get(pk=upload.pk)
    assert (done.accepted, done.duplicates, done.rejected) == (len(paths), 0, 0)
    assert done.attempts >= 2
    assert sorted(UploadFile.objects.filter(upload=done).values_list("name", flat=True)) == sorted(
        f"{i:03d}-{p.name}" for i, p in enumerate(paths)
    )
    assert Instance.objects.filter(donor=worker_donor).count() == len(paths) + 1
    for series in Series.objects.filter(study__donor=worker_donor):
        assert series.instance_count == series.instances.count()
        assert list(series.instances.order_by("slice_index").values_list("slice_index", flat=True)) == list(
            range(series.instance_count)
        )
