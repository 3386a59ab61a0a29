"""Save-to-classified latency of one anatomy, idle and while three DICOM ingests run: two
workers, one per queue (interactive and heavy), against the former single queue, in one run.

One anatomy is saved through the service again and again (a slightly different duct length
each time, so each save is a new revision to classify); its latency runs from the save's
commit to the worker storing the classification run. Measured alone, then while three
uploads of a generated MRCP series (default 160 slices of 384 x 384) are imported.

Both setups have two worker child processes on this machine: the former one, one worker with
`--concurrency=2` on one queue; the split one, one worker process per queue. Targets (split
queues): p95 under 1 s while the ingests run, and at most 1.5 x the idle p95.

    python bench/queues.py [--saves 15] [--slices 160] [--size 384] [--ingests 3]

Needs PostgreSQL (scratch database `ldlt_bench_queues`) and Redis (BENCH_BROKER, default db 8).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import scratch_database, setup_django  # noqa: E402
from bench.ingest import generate, make_donor  # noqa: E402

BROKER = os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/8")
INTERACTIVE, HEAVY, SINGLE = "bench-queues-interactive", "bench-queues-heavy", "bench-queues-single"


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Anatomy:
    """The anatomy whose classification the radiologist waits for."""

    def __init__(self, actor, donor):
        self.actor, self.donor, self.saves = actor, donor, 0

    def save_and_wait(self, timeout: float = 120.0) -> float:
        from classification import services
        from classification.models import Annotation, ClassificationRun
        from classification.presets import preset_document

        document = preset_document("typical_right_lobe")
        self.saves += 1
        for duct in document["ducts"]:
            if duct["id"] == "RHD" and duct.get("length_mm") is not None:
                duct["length_mm"] = round(2 + (self.saves % 180) / 10, 1)  # 180 distinct revisions
        runs = ClassificationRun.objects.filter(annotation__donor=self.donor)
        before = runs.count()
        current = Annotation.objects.filter(donor=self.donor).values_list("version", flat=True).first()
        services.save_annotation(actor=self.actor, donor=self.donor, document=document, expected_version=current)
        saved = time.time()  # committed: the service's transaction has ended, the task is sent
        deadline = time.monotonic() + timeout
        while runs.count() == before:
            if time.monotonic() > deadline:
                raise RuntimeError("the anatomy was not classified")
            time.sleep(0.01)
        return runs.latest("created_at").created_at.timestamp() - saved


def start_ingests(actor, donors_and_paths) -> list[int]:
    from imaging import services

    uploads = []
    for donor, paths in donors_and_paths:
        files = [services.Incoming(p.name, p.stat().st_size, p) for p in paths]
        uploads.append(services.create_upload(actor=actor, donor=donor, files=files).pk)
    return uploads


def ingests_running(upload_ids: list[int]) -> bool:
    from imaging.models import Series, Upload

    uploads = list(Upload.objects.filter(pk__in=upload_ids))
    if any(u.state == "failed" for u in uploads):
        raise RuntimeError(next(u.error for u in uploads if u.state == "failed"))
    if any(u.state != "done" for u in uploads):
        return True
    donors = [u.donor_id for u in uploads]
    return Series.objects.filter(study__donor_id__in=donors).exclude(render_state__in=("done", "failed")).exists()


def measure(anatomy, actor, series, *, saves: int) -> tuple[list[float], list[float], float]:
    """(idle latencies, latencies while the ingests run, seconds the ingests took)."""
    anatomy.save_and_wait()  # warm-up: imports and connections in the worker
    idle = [anatomy.save_and_wait() for _ in range(saves)]
    started = time.monotonic()
    uploads = start_ingests(actor, series)
    loaded = []
    while ingests_running(uploads):
        latency = anatomy.save_and_wait()
        if ingests_running(uploads):  # only saves answered while the ingests still ran
            loaded.append(latency)
        time.sleep(0.2)  # a radiologist's pace, not a tight loop
    return idle, loaded, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=15, help="idle saves per setup")
    parser.add_argument("--slices", type=int, default=160)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--ingests", type=int, default=3)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="ldlt-bench-queues-"))
    database_url = scratch_database("ldlt_bench_queues")
    setup_django(
        database_url,
        DJANGO_MEDIA_ROOT=str(scratch / "media"),
        CELERY_BROKER_URL=BROKER,
        CELERY_RESULT_BACKEND=BROKER,
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    from celery import current_app

    from core.audit import Actor
    from donors.models import Centre, User
    from tests.conftest import start_worker, stop_worker

    conf = current_app.conf
    conf.task_always_eager, conf.broker_url, conf.result_backend = False, BROKER, BROKER
    current_app.control.purge()
    centre = Centre.objects.create(name="Bench Centre", code="bench")
    user = User.objects.create(username="bench", centre=centre, roles=["radiologist", "coordinator"])
    actor = Actor(user=user, channel="command")
    anatomy = Anatomy(actor, make_donor(centre, "BENCH-ANATOMY"))
    print(
        f"generating {2 * args.ingests} series of {args.slices} x {args.size}^2 ...",
        flush=True,
    )
    series = {}
    for setup in ("single", "split"):
        series[setup] = []
        for n in range(args.ingests):
            donor = make_donor(centre, f"BENCH-{setup}-{n}")
            truth = generate(scratch / f"{setup}-{n}", slices=args.slices, size=args.size, seed=n, patient_id=donor.mrn)
            series[setup].append((donor, list(truth.paths)))
    env = {"DATABASE_URL": database_url, "CELERY_BROKER_URL": BROKER, "DATABASE_CONN_MAX_AGE": "60"}
    results = {}
    for setup in ("single", "split"):
        if setup == "single":
            conf.task_default_queue = conf.task_heavy_queue = SINGLE
            workers = [start_worker(queue=SINGLE, concurrency=2, extra_env=env)]
        else:
            conf.task_default_queue, conf.task_heavy_queue = INTERACTIVE, HEAVY
            workers = [
                start_worker(queue=INTERACTIVE, concurrency=1, extra_env=env),
                start_worker(queue=HEAVY, concurrency=1, extra_env=env),
            ]
        try:
            results[setup] = measure(anatomy, actor, series[setup], saves=args.saves)
        finally:
            for worker in workers:
                stop_worker(worker)

    print(
        f"\nsave-to-classified latency of one anatomy, seconds ({args.saves} idle saves; "
        f"{args.ingests} ingests of {args.slices} x {args.size}^2 running)"
    )
    print(f"{'':34}{'one queue (1 worker x 2)':>26}{'two queues (2 workers x 1)':>28}")
    rows = [
        ("idle p50", lambda r: quantile(r[0], 50)),
        ("idle p95", lambda r: quantile(r[0], 95)),
        ("during ingests p50", lambda r: quantile(r[1], 50) if r[1] else float("nan")),
        ("during ingests p95", lambda r: quantile(r[1], 95) if r[1] else float("nan")),
        ("saves during ingests", lambda r: len(r[1])),
        ("ingests took (s)", lambda r: r[2]),
    ]
    for label, value in rows:
        print(f"{label:34}{value(results['single']):>26.3f}{value(results['split']):>28.3f}")
    for setup in ("single", "split"):
        idle, loaded, _ = results[setup]
        if loaded:
            ratio = quantile(loaded, 95) / quantile(idle, 95)
            print(f"{setup}: p95 during ingests / idle p95 = {ratio:.2f}")
    idle, loaded, _ = results["split"]
    if loaded:
        p95 = quantile(loaded, 95)
        print(
            f"two queues: p95 during ingests {p95:.3f} s (target < 1 s), "
            f"{p95 / quantile(idle, 95):.2f} x the idle p95 (target <= 1.5)"
        )


if __name__ == "__main__":
    main()
