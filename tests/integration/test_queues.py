"""Tasks travel on two queues by weight: a worker on the interactive queue alone classifies a
saved anatomy while ingest, rendering, report and bulk jobs wait on the heavy queue in Redis."""

import json
import time

import pytest
import redis
from celery import current_app
from django.conf import settings

from classification import services
from classification.models import Annotation
from classification.presets import preset_document
from classification.tasks import classify_annotation_task, classify_annotations_task
from donors.tasks import ping
from imaging.tasks import ingest_upload_task, render_series_task
from reports.tasks import render_report_pdf_task
from tests.conftest import run_queue, start_worker, stop_worker

INTERACTIVE = run_queue("weight-interactive")
HEAVY = run_queue("weight-heavy")

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def queued_task_names(broker: redis.Redis, queue: str) -> list[str]:
    return [json.loads(message)["headers"]["task"] for message in broker.lrange(queue, 0, -1)]


def test_every_heavy_task_is_routed_by_name_and_every_other_stays_interactive():
    router = current_app.amqp.router
    project_tasks = sorted(name for name in current_app.tasks if not name.startswith("celery."))
    queues = {name: router.route({}, name, (), {})["queue"].name for name in project_tasks}
    heavy = current_app.conf.task_heavy_queue
    interactive = current_app.conf.task_default_queue
    assert heavy != interactive
    assert queues["imaging.ingest_upload"] == queues["imaging.render_series"] == heavy
    assert queues["reports.render_report_pdf"] == heavy
    assert queues["classification.classify_annotations"] == heavy  # bulk re-classification
    assert queues["classification.classify_annotation"] == queues["donors.ping"] == interactive
    # Report jobs added later (PACS sends, exports) are heavy by their app's name.
    assert router.route({}, "reports.send_to_pacs", (), {})["queue"].name == heavy
    # An explicit queue still wins (single-queue workers in tests and benches rely on it).
    assert router.route({"queue": "elsewhere"}, "imaging.ingest_upload", (), {})["queue"].name == "elsewhere"


def test_an_interactive_worker_classifies_while_heavy_tasks_wait_on_their_own_queue(donor, make_user, actor_for):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(INTERACTIVE, HEAVY)
    worker = start_worker(queue=INTERACTIVE)
    conf = current_app.conf
    previous = conf.task_default_queue, conf.task_heavy_queue
    conf.task_default_queue, conf.task_heavy_queue = INTERACTIVE, HEAVY
    try:
        # Heavy work arrives first; no worker consumes the heavy queue in this test.
        ingest_upload_task.delay(0)
        render_series_task.delay(0)
        render_report_pdf_task.delay(0)
        classify_annotations_task.delay([0])
        annotation = services.save_annotation(
            actor=actor_for(make_user("radiologist")), donor=donor, document=preset_document("typical_right_lobe")
        )
        deadline = time.monotonic() + 60
        while Annotation.objects.get(pk=annotation.pk).classification != "done":
            assert time.monotonic() < deadline, "the interactive worker did not classify the anatomy"
            time.sleep(0.2)
        assert ping.delay("weights").get(timeout=30) == "pong:weights"
    finally:
        conf.task_default_queue, conf.task_heavy_queue = previous
        stop_worker(worker)
        waiting = sorted(queued_task_names(broker, HEAVY))
        left_interactive = queued_task_names(broker, INTERACTIVE)
        broker.delete(INTERACTIVE, HEAVY)
    assert waiting == sorted(
        [
            "classification.classify_annotations",
            "imaging.ingest_upload",
            "imaging.render_series",
            "reports.render_report_pdf",
        ]
    )
    assert left_interactive == []
    assert classify_annotation_task.name not in waiting
