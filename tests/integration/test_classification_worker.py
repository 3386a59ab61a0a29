"""A real Celery worker on Redis and PostgreSQL classifies saved annotations: once, even when
the message is delivered twice, and still after a worker is killed mid-task."""

import time

import psycopg2
import pytest
from django.db import connection

from classification import services
from classification.models import Annotation, ClassificationResult, ClassificationRun
from classification.presets import preset_document
from classification.tasks import classify_annotation_task
from tests.conftest import run_queue, start_worker, stop_worker

KILL_QUEUE = run_queue("killtest")

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def classified(annotation_id):
    return Annotation.objects.get(pk=annotation_id).classification == "done"


def test_worker_classifies_a_saved_annotation_once(celery_worker, donor, make_user, actor_for):
    annotation = services.save_annotation(
        actor=actor_for(make_user("radiologist")), donor=donor, document=preset_document("typical_right_lobe")
    )
    assert wait_for(lambda: classified(annotation.pk)), "the worker did not classify the annotation"
    assert ClassificationRun.objects.filter(annotation=annotation).count() == 1
    # The same message delivered twice more stores nothing new.
    results = [classify_annotation_task.delay(annotation.pk) for _ in range(2)]
    assert [r.get(timeout=30) for r in results] == [False, False]
    assert ClassificationRun.objects.filter(annotation=annotation).count() == 1
    assert ClassificationResult.objects.filter(run__annotation=annotation).count() == 6


def test_worker_killed_mid_task_leaves_the_annotation_classified_after_restart(
    donor, make_user, actor_for, monkeypatch
):
    from django.conf import settings

    # Save without queueing, then send the message to a queue only the doomed worker listens to.
    monkeypatch.setattr(services, "_queue_classification", lambda annotation_id: None)
    annotation = services.save_annotation(
        actor=actor_for(make_user("radiologist")), donor=donor, document=preset_document("trifurcation")
    )
    s = connection.settings_dict
    blocker = psycopg2.connect(
        dbname=s["NAME"], user=s["USER"] or "postgres", host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432
    )
    blocker.autocommit = False
    queue_env = {"CELERY_VISIBILITY_TIMEOUT": "3"}
    doomed = None
    try:
        # Hold the annotation's row lock so the task is caught mid-way, waiting on it.
        blocker.cursor().execute("SELECT id FROM classification_annotation WHERE id = %s FOR UPDATE", [annotation.pk])
        doomed = start_worker(queue=KILL_QUEUE, extra_env=queue_env)
        classify_annotation_task.apply_async(args=[annotation.pk], queue=KILL_QUEUE)

        def task_waiting_on_lock():
            # Asked on another connection: statistics views are frozen inside a transaction.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s", [s["NAME"]]
                )
                return cursor.fetchone()[0] > 0

        assert wait_for(task_waiting_on_lock, timeout=30), "the task never started"
        stop_worker(doomed, kill=True)  # SIGKILL the whole worker, child included
    finally:
        if doomed is not None:
            stop_worker(doomed, kill=True)
        blocker.rollback()
        blocker.close()
    assert Annotation.objects.get(pk=annotation.pk).classification == "pending"
    # Redis hands an unacknowledged message to a worker that starts after the visibility timeout.
    time.sleep(4)
    replacement = start_worker(queue=KILL_QUEUE, extra_env=queue_env)
    try:
        assert wait_for(lambda: classified(annotation.pk), timeout=90), "the message was not redelivered"
    finally:
        stop_worker(replacement)
    assert ClassificationRun.objects.filter(annotation=annotation).count() == 1
    assert settings.CELERY_BROKER_URL.startswith("redis")
