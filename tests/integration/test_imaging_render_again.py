"""Pictures that failed, or whose worker died while making them, can be made again; up-to-date
pictures are left alone. Every request is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.audit import Actor
from core.models import AuditEvent
from imaging import ingest, jobs, rendering, services
from imaging.models import Series
from imaging.tasks import ingest_upload_task, render_series_task
from tests.integration.imaging_support import phantom

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def radiologist(make_user):
    return make_user("radiologist")


@pytest.fixture
def imported(donor, radiologist, tmp_path, monkeypatch):
    """An imported series whose pictures failed (the renderer broke), and the upload."""
    truth = phantom(tmp_path / "s", donor=donor, slices=6, size=48)
    monkeypatch.setattr(services, "queue_ingest", lambda upload_id: None)
    upload = services.create_upload(
        actor=Actor(user=radiologist),
        donor=donor,
        files=[services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths],
    )
    working = rendering._render

    def failing(*args):
        raise OSError("disk full")

    monkeypatch.setattr(rendering, "_render", failing)
    assert jobs.ingest_upload(upload_id=upload.pk) == ingest.DONE
    monkeypatch.setattr(rendering, "_render", working)
    series = Series.objects.get()
    assert (series.render_state, series.render_error) == ("failed", "could not render: disk full")
    return upload, series


def requests_to_render(series):
    return AuditEvent.objects.filter(
        record_type="imaging.Series", record_id=str(series.pk), summary__contains="made again"
    )


def test_failed_pictures_are_made_again_on_request(
    imported, radiologist, api_as, eager_tasks, django_capture_on_commit_callbacks
):
    _, series = imported
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(radiologist).post(f"/api/v1/series/{series.pk}/render/")
    assert response.status_code == 202, response.content
    series.refresh_from_db()
    assert (series.render_state, series.render_error) == ("done", "")
    assert series.mip_path and series.thumbnail_path and series.rendered_instances == 6
    event = requests_to_render(series).get()
    assert event.user == radiologist and event.changes == {"render_state": ["failed", "pending"]}


def test_up_to_date_pictures_are_left_alone(
    imported, radiologist, api_as, eager_tasks, django_capture_on_commit_callbacks
):
    _, series = imported
    with django_capture_on_commit_callbacks(execute=True):
        services.render_again(actor=Actor(user=radiologist), series=series)
    before = Series.objects.get(pk=series.pk)
    response = api_as(radiologist).post(f"/api/v1/series/{series.pk}/render/")
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "the pictures of this series are up to date"
    after = Series.objects.get(pk=series.pk)
    assert (after.render_state, after.updated_at, after.mip_path) == ("done", before.updated_at, before.mip_path)
    assert requests_to_render(series).count() == 1


def test_a_render_whose_worker_died_can_be_made_again_once_it_is_stale(
    imported, radiologist, api_as, eager_tasks, django_capture_on_commit_callbacks
):
    _, series = imported
    Series.objects.filter(pk=series.pk).update(render_state="rendering", updated_at=timezone.now())
    response = api_as(radiologist).post(f"/api/v1/series/{series.pk}/render/")
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "the pictures of this series are being made now"
    stale = timezone.now() - timedelta(seconds=rendering.RENDER_STALE_SECONDS + 1)
    Series.objects.filter(pk=series.pk).update(updated_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(radiologist).post(f"/api/v1/series/{series.pk}/render/")
    assert response.status_code == 202
    assert Series.objects.get(pk=series.pk).render_state == "done"


def test_a_repeated_import_delivery_finishes_a_render_its_worker_left(imported, eager_tasks):
    upload, series = imported
    stale = timezone.now() - timedelta(seconds=rendering.RENDER_STALE_SECONDS + 1)
    Series.objects.filter(pk=series.pk).update(render_state="rendering", updated_at=stale)
    assert ingest_upload_task.apply(args=[upload.pk]).get() == ingest.FINISHED
    assert Series.objects.get(pk=series.pk).render_state == "done"


def test_the_viewer_offers_the_button_only_when_the_pictures_need_it(
    imported, radiologist, client, eager_tasks, django_capture_on_commit_callbacks
):
    _, series = imported
    client.force_login(radiologist)
    page = client.get(f"/imaging/series/{series.pk}/").content.decode()
    assert 'data-testid="render-again"' in page and "could not render: disk full" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/imaging/series/{series.pk}/render/")
    assert response.status_code == 302
    page = client.get(f"/imaging/series/{series.pk}/").content.decode()
    assert 'data-testid="render-again"' not in page and "being made again" in page


def test_a_second_delivery_of_the_render_task_leaves_up_to_date_pictures_alone(
    imported, radiologist, eager_tasks, django_capture_on_commit_callbacks
):
    _, series = imported
    with django_capture_on_commit_callbacks(execute=True):
        services.render_again(actor=Actor(user=radiologist), series=series)
    done = Series.objects.get(pk=series.pk)
    assert render_series_task.apply(args=[series.pk]).get() == "done"
    assert Series.objects.get(pk=series.pk).updated_at == done.updated_at
