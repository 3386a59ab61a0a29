"""DJANGO_STORAGE=s3: uploads through the API, the DICOM node and STOW are stored, ingested and rendered
in an S3-compatible bucket (moto's standalone server, a process of its own on loopback: conftest), by this process
or by a worker process configured only by its environment; slices, MIPs and files are read back only
through the permission-checked views, and nothing touches the local media folder."""

from __future__ import annotations

import io
import shutil
import subprocess
import time

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.core.files.storage import default_storage
from django.test import Client

from core.tokens import issue_api_client
from imaging import services
from imaging.dicom_node import StorageNode
from imaging.models import Instance, Series
from imaging.storage import has_local_paths
from tests.conftest import run_queue, start_worker, stop_worker
from tests.factories import DonorFactory
from tests.integration.imaging_support import as_uploads, phantom, report, upload
from tests.integration.s3_support import keys, media_is_empty, s3_environment

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_an_upload_is_stored_ingested_and_served_from_the_bucket(
    bucket, api_as, make_user, donor, other_centre, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    client, name = bucket
    assert not has_local_paths()  # the settings took: the storage is the bucket
    truth = phantom(tmp_path / "s", donor=donor, slices=12, size=48)
    radiologist = make_user("radiologist")
    body = upload(api_as(radiologist), donor, as_uploads(truth.paths), django_capture_on_commit_callbacks)
    result = report(api_as(radiologist), body["id"])
    assert (result["state"], result["accepted"], result["rejected"], result["ready"]) == ("done", 12, 0, True)

    series = Series.objects.get(study__donor=donor)
    instances = list(series.instances.order_by("slice_index"))
    stored = keys(client, name)
    # Every DICOM file and every rendering is an object in the bucket.
    assert {i.file for i in instances} <= set(stored)
    assert {series.mip_path, series.thumbnail_path, series.mip_data_path} <= set(stored)
    assert all(key.startswith(f"imaging/donor-{donor.pk}/") for key in stored)
    # Objects are private: without credentials the store refuses them.
    assert requests.get(f"{client.meta.endpoint_url}/{name}/{series.mip_path}", timeout=5).status_code == 403

    page = Client()
    page.force_login(radiologist)
    for index in (0, len(instances) - 1):
        response = page.get(f"/imaging/series/{series.pk}/slices/{index}.png?wc=1500&ww=3000")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content if response.streaming else [response.content])[:4] == b"\x89PNG"
    mip = page.get(f"/imaging/series/{series.pk}/mip.png")
    assert mip.status_code == 200 and mip.content[:4] == b"\x89PNG"
    with default_storage.open(series.mip_path, "rb") as handle:
        assert mip.content == handle.read()  # streamed from the bucket through the view
    dicom = page.get(f"/imaging/instances/{instances[0].pk}/file.dcm")
    assert dicom.status_code == 200
    data = b"".join(dicom.streaming_content) if dicom.streaming else dicom.content
    assert pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID == instances[0].sop_instance_uid

    # Another centre's user gets none of it.
    stranger = Client()
    stranger.force_login(make_user("radiologist", centre_obj=other_centre, username="elsewhere"))
    assert stranger.get(f"/imaging/series/{series.pk}/slices/0.png").status_code in (403, 404)
    assert stranger.get(f"/imaging/series/{series.pk}/mip.png").status_code in (403, 404)
    assert stranger.get(f"/imaging/instances/{instances[0].pk}/file.dcm").status_code in (403, 404)

    assert Instance.objects.filter(donor=donor).count() == 12
    assert media_is_empty(tmp_path / "media")


def stored_in(client, name, instances) -> bool:
    return {i.file for i in instances} <= set(keys(client, name))


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not shutil.which("storescu"), reason="dcmtk (storescu) is not installed")
def test_the_dicom_node_stores_what_it_receives_as_objects(bucket, centre, tmp_path, eager_tasks):
    client, name = bucket
    services.register_dicom_peer(actor=None, centre=centre, ae_title="S3PACS", host="127.0.0.1")
    donor = DonorFactory(centre=centre)
    truth = phantom(tmp_path / "series", donor=donor, slices=6, size=32)
    node = StorageNode(ae_title="LDLTWORKUP", port=0, bind="127.0.0.1")
    node.start()
    try:
        sent = subprocess.run(
            ["storescu", "-aet", "S3PACS", "-aec", "LDLTWORKUP", "127.0.0.1", str(node.port), *map(str, truth.paths)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 30
        while not Series.objects.filter(study__donor=donor, render_state=Series.Render.DONE).exists():
            assert time.monotonic() < deadline, "the node did not import and render the series"
            time.sleep(0.1)
    finally:
        node.stop()
    series = Series.objects.get(study__donor=donor)
    instances = list(Instance.objects.filter(series=series))
    assert len(instances) == 6 and stored_in(client, name, instances)
    assert series.mip_path in keys(client, name)
    assert media_is_empty(tmp_path / "media")


@pytest.mark.django_db(transaction=True)
def test_stow_stores_its_parts_as_objects(bucket, live_server, centre, tmp_path, eager_tasks):
    client, name = bucket
    donor = DonorFactory(centre=centre, mrn="MRN-S3-STOW")
    datasets = [pydicom.dcmread(p) for p in sorted(phantom(tmp_path / "stow", donor=donor, slices=4, size=32).paths)]
    _, key = issue_api_client(centre=centre, name="PACS")
    headers = {"Authorization": f"Token {key}", "Connection": "close"}
    answer = DICOMwebClient(url=f"{live_server.url}/dicom-web", headers=headers).store_instances(datasets)
    assert "FailedSOPSequence" not in answer
    instances = list(Instance.objects.filter(donor=donor))
    assert len(instances) == 4 and stored_in(client, name, instances)
    for instance in instances:
        with default_storage.open(instance.file, "rb") as handle:
            assert pydicom.dcmread(handle).SOPInstanceUID == instance.sop_instance_uid
    assert media_is_empty(tmp_path / "media")


@pytest.fixture
def s3_worker(bucket, s3_endpoint, tmp_path):
    """A Celery worker process of its own, configured for the bucket by its environment only (as in
    compose), consuming a queue of its own that every task of this test is sent to."""
    from celery import current_app

    _, name = bucket
    queue = run_queue("s3")
    worker = start_worker(queue=queue, extra_env=s3_environment(s3_endpoint, name, tmp_path / "media"))
    conf = current_app.conf
    previous = conf.task_default_queue, conf.task_heavy_queue
    conf.task_default_queue = conf.task_heavy_queue = queue
    yield worker
    conf.task_default_queue, conf.task_heavy_queue = previous
    stop_worker(worker)


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_ingests_from_the_bucket_what_the_web_process_stored(
    bucket, s3_worker, api_as, make_user, donor, tmp_path
):
    client, name = bucket
    truth = phantom(tmp_path / "s", donor=donor, slices=10, size=48)
    radiologist = make_user("radiologist")
    api = api_as(radiologist)
    response = api.post("/api/v1/uploads/", {"donor": donor.pk, "files": as_uploads(truth.paths)}, format="multipart")
    assert response.status_code == 202, response.content
    deadline = time.monotonic() + 90
    while not (body := report(api, response.json()["id"]))["ready"]:
        assert time.monotonic() < deadline, f"the worker did not ingest and render the upload: {body}"
        time.sleep(0.3)
    assert (body["state"], body["accepted"], body["rejected"]) == ("done", 10, 0)
    series = Series.objects.get(study__donor=donor)
    assert stored_in(client, name, series.instances.all()) and series.mip_path in keys(client, name)
    page = Client()
    page.force_login(radiologist)
    assert page.get(f"/imaging/series/{series.pk}/mip.png").status_code == 200
    slice_png = page.get(f"/imaging/series/{series.pk}/slices/9.png")
    assert slice_png.status_code == 200 and slice_png["Content-Type"] == "image/png"
    assert media_is_empty(tmp_path / "media")
