"""Re-classification of 10,000 stored annotations: Celery workers on Redis and PostgreSQL
against the same work in one process, in the same run.

Prints annotations per second for both, their ratio (target: workers >= 0.5 x in-process)
and enqueue-to-stored latency p50/p95 for the worker path.

    python bench/classify.py [--annotations 10000] [--batch 200] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import scratch_database, setup_django  # noqa: E402

BROKER = os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/11")


def seed(count: int) -> list[int]:
    from classification.models import Annotation
    from classification.presets import PRESETS, preset_document
    from classification.services import document_hash
    from donors.models import Centre, Donor, User

    centre = Centre.objects.create(name="Bench Centre", code="bench")
    user = User.objects.create(username="bench-radiologist", centre=centre, roles=["radiologist"])
    rng = random.Random(7)
    names = [name for name, preset in PRESETS.items() if preset["document"]["graft"] == "right_lobe"]
    # Benchmark fixture only: rows are loaded in bulk, not through the audited services.
    donors = Donor.objects.bulk_create(
        (
            Donor(
                centre=centre,
                code=f"C{n:05d}",
                mrn=f"M{n:06d}",
                given_name="N",
                family_name=f"F{n}",
                date_of_birth=datetime.date(1985, 1, 1),
                sex="female",
                height_cm=Decimal("165.0"),
                weight_kg=Decimal("60.0"),
                abo="O",
                relationship="sibling",
                planned_graft="right_lobe",
            )
            for n in range(count)
        ),
        batch_size=2000,
    )
    annotations = []
    for donor in donors:
        document = preset_document(rng.choice(names))
        for duct in document["ducts"]:
            if duct["id"] == "RHD" and duct.get("length_mm") is not None:
                duct["length_mm"] = round(rng.uniform(2, 20), 1)
        annotations.append(
            Annotation(
                donor=donor,
                document=document,
                document_sha256=document_hash(document),
                created_by=user,
                updated_by=user,
            )
        )
    created = Annotation.objects.bulk_create(annotations, batch_size=2000)
    return [annotation.pk for annotation in created]


def forget_results() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE classification_classificationresult, classification_classificationrun CASCADE")
        cursor.execute("UPDATE classification_annotation SET classification = 'pending'")


def batches(ids: list[int], size: int):
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def in_process(ids: list[int], batch: int) -> float:
    from classification.jobs import classify_annotations

    started = time.perf_counter()
    for chunk in batches(ids, batch):
        classify_annotations(annotation_ids=chunk)
    return len(ids) / (time.perf_counter() - started)


def with_workers(ids: list[int], batch: int, concurrency: int, database_url: str) -> tuple[float, list[float]]:
    from django.utils import timezone

    from classification.models import ClassificationRun
    from classification.tasks import classify_annotations_task
    from tests.conftest import start_worker, stop_worker

    worker = start_worker(
        concurrency=concurrency,
        queue="bench-classify",
        extra_env={"DATABASE_URL": database_url, "CELERY_BROKER_URL": BROKER},
    )
    try:
        enqueued_at: dict[int, datetime.datetime] = {}
        started = time.perf_counter()
        for chunk in batches(ids, batch):
            now = timezone.now()
            for annotation_id in chunk:
                enqueued_at[annotation_id] = now
            classify_annotations_task.apply_async(args=[chunk], queue="bench-classify")
        while ClassificationRun.objects.count() < len(ids):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        stop_worker(worker)
    latencies = [
        (created - enqueued_at[annotation_id]).total_seconds()
        for annotation_id, created in ClassificationRun.objects.values_list("annotation_id", "created_at")
    ]
    return len(ids) / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotations", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    database_url = scratch_database("ldlt_bench_classify")
    setup_django(database_url, CELERY_BROKER_URL=BROKER, CELERY_RESULT_BACKEND=BROKER)
    from celery import current_app

    current_app.conf.task_always_eager = False
    current_app.conf.broker_url = BROKER
    current_app.conf.result_backend = BROKER
    ids = seed(args.annotations)
    print(f"annotations: {len(ids)}, batch {args.batch}, workers: 1 process x {args.concurrency} children")

    local_rate = in_process(ids, args.batch)
    forget_results()
    worker_rate, latencies = with_workers(ids, args.batch, args.concurrency, database_url)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"in one process:   {local_rate:8.1f} annotations/s")
    print(f"Celery workers:   {worker_rate:8.1f} annotations/s")
    print(f"ratio workers / in-process: {worker_rate / local_rate:.2f} (target >= 0.5)")
    print(f"enqueue-to-stored latency: p50 {quantiles[49]:.2f} s, p95 {quantiles[94]:.2f} s")


if __name__ == "__main__":
    main()
