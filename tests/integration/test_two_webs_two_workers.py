"""Beyond one machine: two web processes (gunicorn) and two Celery workers, each a process of its
own on loopback, share one PostgreSQL database, one Redis broker and one S3-compatible bucket, and
nothing else. A radiologist logs in and uploads through web A, either worker ingests and renders,
and web B serves the slices and the MIP to the same session, and nothing to another centre."""

from __future__ import annotations

import io
import re
import subprocess
import time
from dataclasses import dataclass

import pytest
import requests
from PIL import Image

from imaging.models import Series
from tests.conftest import launch_web, launch_worker, run_queue, stop_worker, wait_until_up
from tests.factories import DonorFactory
from tests.integration.imaging_support import phantom
from tests.integration.s3_support import keys, media_is_empty, new_bucket, s3_environment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"  # noqa: S105 - the factories' password
SLICES, SIZE = 8, 48


@dataclass
class Cluster:
    web_a: str
    web_b: str
    workers: dict[str, subprocess.Popen]
    bucket: tuple


@pytest.fixture
def cluster(s3_endpoint, tmp_path):
    """Two webs and two workers (both on an interactive and a heavy queue of their own, so the session's
    worker, which keeps its files on the local disk, never takes their tasks), all configured by their
    environment alone for the test database, the broker and a new bucket."""
    s3, name = new_bucket(s3_endpoint)
    environment = s3_environment(s3_endpoint, name, tmp_path / "media")
    queues = (run_queue("cluster"), run_queue("cluster-heavy"))
    webs = [launch_web(queues=queues, extra_env=environment) for _ in range(2)]
    workers = {node: launch_worker(name=node, queues=queues, extra_env=environment) for node in ("left", "right")}
    everyone = [*webs, *workers.values()]
    try:
        wait_until_up(*everyone)
        yield Cluster(web_a=webs[0].url, web_b=webs[1].url, workers=workers, bucket=(s3, name))  # type: ignore[attr-defined]
    finally:
        stop_worker(*everyone)
    assert media_is_empty(tmp_path / "media")  # every process kept its files in the bucket


def log_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=10).raise_for_status()
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=20,
    )
    assert answer.status_code == 302, f"{username} could not log in on {base}: {answer.status_code}"
    return session


def png_size(response: requests.Response) -> tuple[int, int]:
    assert response.status_code == 200, (response.status_code, response.text[:200])
    assert response.headers["Content-Type"] == "image/png" and response.content[:4] == b"\x89PNG"
    picture = Image.open(io.BytesIO(response.content))
    picture.load()  # the whole image decodes, not only its header
    return picture.size


def ingested_by(workers: dict[str, subprocess.Popen], task: str) -> list[str]:
    """The workers whose log shows `task` succeeding."""
    done = re.compile(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded")
    return [node for node, process in workers.items() if done.search(process.log_path.read_text())]  # type: ignore[attr-defined]


def test_web_a_takes_the_upload_a_worker_ingests_web_b_shows_the_slices(
    cluster, centre, other_centre, make_user, tmp_path
):
    donor = DonorFactory(centre=centre)
    radiologist = make_user("radiologist", username="radiologist-home")
    stranger = make_user("radiologist", centre_obj=other_centre, username="radiologist-other")
    truth = phantom(tmp_path / "series", donor=donor, slices=SLICES, size=SIZE, pixel_spacing=(0.8, 0.8))

    # Web A: the login form, then the upload page's own request (session, CSRF header) to the API.
    on_a = log_in(cluster.web_a, radiologist.username)
    assert on_a.get(f"{cluster.web_a}/imaging/donors/{donor.pk}/upload/", timeout=10).status_code == 200
    files = [("files", (path.name, path.read_bytes(), "application/dicom")) for path in truth.paths]
    sent = on_a.post(
        f"{cluster.web_a}/api/v1/uploads/",
        data={"donor": donor.pk},
        files=files,
        headers={"X-CSRFToken": on_a.cookies["csrftoken"], "Referer": f"{cluster.web_a}/"},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text

    # Web B: the same session (the database holds it) follows the upload until it is rendered.
    on_b = requests.Session()
    on_b.cookies.update(on_a.cookies)
    deadline = time.monotonic() + 45
    while True:
        status = on_b.get(f"{cluster.web_b}/api/v1/uploads/{sent.json()['id']}/", timeout=10)
        assert status.status_code == 200, status.text
        body = status.json()
        if body["ready"]:
            break
        assert time.monotonic() < deadline, f"no worker ingested and rendered the upload: {body}"
        time.sleep(0.3)
    assert (body["state"], body["accepted"], body["rejected"]) == ("done", SLICES, 0), body
    # Exactly one worker took the ingest off the shared heavy queue.
    assert len(ingested_by(cluster.workers, "imaging.ingest_upload")) == 1

    series = Series.objects.get(study__donor=donor)
    assert series.render_state == Series.Render.DONE and series.instance_count == SLICES
    s3, name = cluster.bucket
    stored = set(keys(s3, name))
    assert {i.file for i in series.instances.all()} | {series.mip_path} <= stored

    for index in (0, SLICES // 2, SLICES - 1):
        assert png_size(on_b.get(f"{cluster.web_b}/imaging/series/{series.pk}/slices/{index}.png", timeout=20)) == (
            SIZE,
            SIZE,
        )
    mip_rows, mip_columns = series.mip_shape
    assert png_size(on_b.get(f"{cluster.web_b}/imaging/series/{series.pk}/mip.png", timeout=20)) == (
        mip_columns,
        mip_rows,
    )
    assert min(mip_rows, mip_columns) >= SIZE // 2

    # Another centre's radiologist, on web B, finds none of it.
    elsewhere = log_in(cluster.web_b, stranger.username)
    for path in ("slices/0.png", "mip.png", ""):
        assert elsewhere.get(f"{cluster.web_b}/imaging/series/{series.pk}/{path}", timeout=10).status_code == 404
