"""DICOM ingest end to end against the floor of reading the files and projecting them.

A generated MRCP series (default 160 slices of 384 x 384) is uploaded through the API and timed
from the upload being accepted (202) to its MIP being ready. The floor, measured in the same
run on the same files, is one process reading every file with pydicom and computing the same
coronal maximum intensity projection with numpy. Rounds alternate between the two.

With DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis) set, the import runs in a real
Celery worker (solo pool, its own queue) on a scratch database `ldlt_bench_ingest`; otherwise
on a scratch SQLite database with tasks in-process. Peak memory: the worker's peak resident
set growth (VmHWM after resetting it, Linux), or tracemalloc's peak in-process, next to the
series' pixel bytes. Targets: at most 2x the floor, peak memory at most 3x the series.

The C-STORE path (when dcmtk's `storescu` is installed) sends the same kind of series to the DICOM
node (`imaging.dicom_node`, run in this process on a free port) with `storescu`, timed from its
start to its last C-STORE response (target: at most 1.0 s for 160 x 384^2), then from that response
to the MIP being ready (target: at most 1.5x the floor). `--orthanc-scp HOST:PORT[:AET]` times
`storescu` against Orthanc's C-STORE as well.

The STOW-RS path POSTs the same kind of series in one multipart/related request to
/dicom-web/studies, timed from the request to its response, then from the response to the MIP
being ready (the import runs in the worker, as for uploads).

    python bench/ingest.py [--slices 160] [--size 384] [--rounds 3] [--orthanc URL] [--orthanc-scp HOST:PORT[:AET]]

BENCH_INGEST_DATABASE names the scratch database (default ldlt_bench_ingest).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, scratch_database, setup_django  # noqa: E402

QUEUE = "bench_ingest"


def floor(paths) -> float:
    """Read every file with pydicom and project with numpy, in one process."""
    started = time.perf_counter()
    projection = None
    for path in paths:
        pixels = pydicom.dcmread(path).pixel_array.astype(np.float32)
        projection = pixels if projection is None else np.maximum(projection, pixels, out=projection)
    assert projection is not None
    return time.perf_counter() - started


def generate(folder: Path, *, slices: int, size: int, seed: int, patient_id: str):
    from classification.presets import preset_document
    from imaging.dicom import generate_series

    return generate_series(
        preset_document("typical_right_lobe"),
        folder,
        slices=slices,
        rows=size,
        columns=size,
        seed=seed,
        patient_id=patient_id,
        patient_name="Bench^Donor",
    )


def start_worker(env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-Q",
            QUEUE,
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=os.environ | env | {"PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    from donors.tasks import ping

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if ping.apply_async(args=["bench"], queue=QUEUE).get(timeout=5) == "pong:bench":
                return process
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the Celery worker did not start")


def stop_worker(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def make_donor(centre, code: str):
    import datetime

    from donors.models import Donor

    return Donor.objects.create(
        centre=centre,
        code=code,
        mrn=f"M-{code}",
        given_name="Donor",
        family_name="Bench",
        date_of_birth=datetime.date(1990, 1, 1),
        sex="female",
        height_cm=165,
        weight_kg=60,
        abo="O",
        relationship="sibling",
        planned_graft="right_lobe",
    )


def upload_and_wait(client, donor, paths, *, in_process: bool) -> tuple[float, float]:
    """(seconds for the upload request, seconds from accepted to MIP ready).

    In-process, the task the request queues is run right after the 202 (as the eager worker
    would), so the two parts are timed apart as with a worker. "Ready" is the moment the
    worker stored the rendered series (its `updated_at`): polling only notices it, and a
    tight poll would take CPU and database time from the worker it measures.
    """
    from django.core.files.uploadedfile import SimpleUploadedFile

    from imaging.models import Series, Upload

    files = [SimpleUploadedFile(p.name, p.read_bytes(), content_type="application/dicom") for p in paths]
    started = time.perf_counter()
    response = client.post("/api/v1/uploads/", {"donor": donor.pk, "files": files})
    accepted = time.perf_counter()
    accepted_wall = time.time()
    assert response.status_code == 202, response.content
    upload_id = response.json()["id"]
    if in_process:
        from imaging.tasks import ingest_upload_task

        ingest_upload_task.apply(args=[upload_id])
    while True:
        upload = Upload.objects.get(pk=upload_id)
        if upload.state == "done":
            states = list(Series.objects.filter(study__donor=donor).values_list("render_state", flat=True))
            if states and all(s in ("done", "failed") for s in states):
                break
        if upload.state == "failed":
            raise RuntimeError(upload.error)
        time.sleep(0.05)
    series = Series.objects.get(study__donor=donor)
    assert upload.accepted == len(paths) and series.render_state == "done" and series.mip_path, upload.__dict__
    PHASES.append(
        (
            upload.started_at.timestamp() - accepted_wall,
            (upload.finished_at - upload.started_at).total_seconds(),
            (series.updated_at - upload.finished_at).total_seconds(),
        )
    )
    return accepted - started, series.updated_at.timestamp() - accepted_wall


PHASES: list[tuple[float, float, float]] = []

CALLING_AE = "BENCHPACS"


def storescu(port: int, paths, *, host: str = "127.0.0.1", called: str = "LDLTWORKUP") -> float:
    """Seconds from starting `storescu` to it receiving its last C-STORE response."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["storescu", "-v", "-aet", CALLING_AE, "-aec", called, host, str(port), *map(str, paths)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    last, answered, failed = started, 0, []
    for line in process.stderr:
        if "Received Store Response" in line:
            last = time.perf_counter()
            answered += 1
            if "Success" not in line:
                failed.append(line.strip())
    process.wait()
    if process.returncode != 0 or answered != len(paths) or failed:
        raise RuntimeError(f"storescu: exit {process.returncode}, {answered} responses, failures {failed[:3]}")
    return last - started


def cstore_and_wait(node, donor, paths) -> tuple[float, float]:
    """(storescu start -> last C-STORE response, last response -> MIP ready)."""
    from imaging.models import Series, Upload

    started_wall = time.time()
    sent = storescu(node.port, paths)
    answered_wall = started_wall + sent
    while True:
        upload = Upload.objects.filter(donor=donor, channel="dicom").first()
        if upload is not None and upload.state == "done":
            states = list(Series.objects.filter(study__donor=donor).values_list("render_state", flat=True))
            if states and all(s in ("done", "failed") for s in states):
                break
        if upload is not None and upload.state == "failed":
            raise RuntimeError(upload.error)
        time.sleep(0.05)
    series = Series.objects.get(study__donor=donor)
    assert upload.accepted == len(paths) and series.render_state == "done" and series.mip_path, upload.__dict__
    return sent, series.updated_at.timestamp() - answered_wall


def stow_and_wait(client, donor, paths, *, in_process: bool) -> tuple[float, float]:
    """(STOW-RS request -> response, response -> MIP ready); the body is built before timing.

    In-process, the import the request queues is run right after the response, as for uploads."""
    from imaging.models import Series, Upload

    boundary = b"bench-stow-boundary"
    head = b"--" + boundary + b"\r\nContent-Type: application/dicom\r\n\r\n"
    body = b"".join(head + p.read_bytes() + b"\r\n" for p in paths) + b"--" + boundary + b"--\r\n"
    started = time.perf_counter()
    response = client.post(
        "/dicom-web/studies",
        data=body,
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary.decode()}',
        HTTP_ACCEPT="application/dicom+json",
    )
    answered = time.perf_counter() - started
    answered_wall = time.time()
    assert response.status_code == 200, response.content[:500]
    if in_process:
        from imaging.tasks import ingest_upload_task

        for upload_id in Upload.objects.filter(donor=donor, channel="dicomweb").values_list("pk", flat=True):
            ingest_upload_task.apply(args=[upload_id])
    while True:
        upload = Upload.objects.filter(donor=donor, channel="dicomweb").first()
        if upload is not None and upload.state == "done":
            states = list(Series.objects.filter(study__donor=donor).values_list("render_state", flat=True))
            if states and all(s in ("done", "failed") for s in states):
                break
        if upload is not None and upload.state == "failed":
            raise RuntimeError(upload.error)
        time.sleep(0.05)
    series = Series.objects.get(study__donor=donor)
    assert upload.accepted == len(paths) and series.render_state == "done" and series.mip_path, upload.__dict__
    return answered, series.updated_at.timestamp() - answered_wall


def stow_round(client, centre, scratch, args, round_number, stows, after_stows, *, in_process: bool) -> None:
    """POST a fresh series to the app's STOW-RS and time it."""
    sender = make_donor(centre, f"BENCH-STOW-{round_number}")
    truth = generate(
        scratch / f"stow-{round_number}",
        slices=args.slices,
        size=args.size,
        seed=200 + round_number,
        patient_id=sender.mrn,
    )
    answered, after = stow_and_wait(client, sender, list(truth.paths), in_process=in_process)
    stows.append(answered)
    after_stows.append(after)


def print_stow(stows, after_stows, floor_median: float) -> None:
    answered, after = statistics.median(stows), statistics.median(after_stows)
    print(
        f"STOW-RS (one request of the series), request -> response: {answered:6.3f} s   "
        f"rounds {[round(v, 3) for v in stows]}"
    )
    print(
        f"STOW-RS, response -> MIP ready:               {after:6.3f} s   "
        f"rounds {[round(v, 3) for v in after_stows]} = {after / floor_median:.2f} x the floor"
    )


def orthanc_store(url: str, paths) -> float:
    import urllib.request

    started = time.perf_counter()
    for path in paths:
        request = urllib.request.Request(
            f"{url}/instances", data=path.read_bytes(), method="POST", headers={"Content-Type": "application/dicom"}
        )
        with urllib.request.urlopen(request) as response:
            response.read()
    return time.perf_counter() - started


def start_node(centre):
    """The DICOM node on a free port, with the bench's sender registered; None without storescu."""
    if not shutil.which("storescu"):
        return None
    from imaging.dicom_node import StorageNode
    from imaging.models import DicomPeer

    DicomPeer.objects.create(ae_title=CALLING_AE, centre=centre, host="127.0.0.1")
    node = StorageNode(ae_title="LDLTWORKUP", port=0, bind="127.0.0.1")
    node.start()
    return node


def stop_node(node) -> None:
    if node is not None:
        node.stop()


def cstore_round(node, centre, scratch, args, round_number, sends, after_sends, orthanc_sends) -> None:
    """Send a fresh series to the DICOM node (and to Orthanc's, when given) and time it."""
    if node is None:
        return
    sender = make_donor(centre, f"BENCH-CSTORE-{round_number}")
    truth = generate(
        scratch / f"cstore-{round_number}",
        slices=args.slices,
        size=args.size,
        seed=100 + round_number,
        patient_id=sender.mrn,
    )
    sent, after = cstore_and_wait(node, sender, list(truth.paths))
    sends.append(sent)
    after_sends.append(after)
    if args.orthanc_scp:
        host, port, *called = args.orthanc_scp.split(":")
        orthanc_sends.append(storescu(int(port), truth.paths, host=host, called=called[0] if called else "ORTHANC"))


def print_cstore(sends, after_sends, orthanc_sends, floor_median: float, *, measured: bool) -> None:
    if not measured:
        print("C-STORE: not measured (dcmtk's storescu is not installed)")
        return
    sent, after = statistics.median(sends), statistics.median(after_sends)
    print(
        f"C-STORE (storescu -> the DICOM node), start -> last response: {sent:6.3f} s   "
        f"rounds {[round(v, 3) for v in sends]} (target <= 1.0 s)"
    )
    print(
        f"C-STORE, last response -> MIP ready:          {after:6.3f} s   "
        f"rounds {[round(v, 3) for v in after_sends]} = {after / floor_median:.2f} x the floor (target <= 1.5)"
    )
    if orthanc_sends:
        print(
            f"Orthanc C-STORE (storescu), start -> last response: {statistics.median(orthanc_sends):6.3f} s   "
            f"rounds {[round(v, 3) for v in orthanc_sends]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=160)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orthanc", default="", help="Orthanc REST URL to time storing the same files (optional)")
    parser.add_argument(
        "--orthanc-scp", default="", help="HOST:PORT[:AET] of Orthanc's DICOM port, to time its C-STORE (optional)"
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="ldlt-bench-ingest-"))
    media = scratch / "media"
    database_url = os.environ.get("DATABASE_URL", "")
    with_worker = database_url.startswith("postgres") and bool(os.environ.get("CELERY_BROKER_URL"))
    env = {"DJANGO_MEDIA_ROOT": str(media), "CELERY_TASK_DEFAULT_QUEUE": QUEUE, "CELERY_TASK_HEAVY_QUEUE": QUEUE}
    if with_worker:
        url = scratch_database(os.environ.get("BENCH_INGEST_DATABASE", "ldlt_bench_ingest"))
        env |= {"CELERY_TASK_ALWAYS_EAGER": "false"}
    else:
        url = f"sqlite:///{scratch / 'bench.sqlite3'}"
        env |= {"CELERY_BROKER_URL": "", "CELERY_TASK_ALWAYS_EAGER": "true"}
    setup_django(url, **env)

    from django.test import Client

    from donors.models import Centre, Donor, User

    centre = Centre.objects.create(name="Bench Centre", code="bench")
    user = User.objects.create(username="bench", centre=centre, roles=["radiologist"])
    client = Client()
    client.force_login(user)
    if not with_worker:
        from imaging import services

        services.queue_ingest = lambda upload_id: None  # run by upload_and_wait after the 202 instead
    worker = start_worker(env | {"DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "60"}) if with_worker else None
    series_bytes = args.slices * args.size * args.size * 2
    where = (
        "in a Celery worker (solo pool) on Redis + PostgreSQL" if with_worker else "in-process (SQLite, eager tasks)"
    )
    print(
        f"series: {args.slices} slices of {args.size} x {args.size}, 16-bit: {series_bytes / 1e6:.1f} MB of pixels; "
        f"import {where}"
    )
    floors, requests, ingests, peaks, orthanc = [], [], [], [], []
    sends, after_sends, orthanc_sends = [], [], []
    stows: list[float] = []
    after_stows: list[float] = []
    node = start_node(centre)
    try:
        for round_number in range(args.rounds + 1):  # round 0 warms up caches, imports and the worker
            donor: Donor = make_donor(centre, f"BENCH-{round_number}")
            folder = scratch / f"round-{round_number}"
            truth = generate(folder, slices=args.slices, size=args.size, seed=round_number, patient_id=donor.mrn)
            paths = list(truth.paths)
            floor_seconds = floor(paths)
            if worker is not None:
                baseline = proc_kb(worker.pid, "VmRSS")
                peak_ok = reset_peak(worker.pid)
                request_seconds, ingest_seconds = upload_and_wait(client, donor, paths, in_process=False)
                peak = (proc_kb(worker.pid, "VmHWM") - baseline) * 1024 if peak_ok else None
            else:
                request_seconds, ingest_seconds = upload_and_wait(client, donor, paths, in_process=True)
                peak = None
            if round_number == 0:
                continue
            floors.append(floor_seconds)
            requests.append(request_seconds)
            ingests.append(ingest_seconds)
            if peak is not None:
                peaks.append(peak)
            if args.orthanc:
                orthanc.append(orthanc_store(args.orthanc, paths))
            cstore_round(node, centre, scratch, args, round_number, sends, after_sends, orthanc_sends)
            stow_round(client, centre, scratch, args, round_number, stows, after_stows, in_process=worker is None)
        if worker is None:  # memory in-process: one more round under tracemalloc (slower, not timed)
            donor = make_donor(centre, "BENCH-MEM")
            truth = generate(scratch / "round-mem", slices=args.slices, size=args.size, seed=99, patient_id=donor.mrn)
            from imaging import jobs, services

            files = [services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths]
            tracemalloc.start()
            upload = services.create_upload(actor=None, donor=donor, files=files, channel="command")
            tracemalloc.reset_peak()
            jobs.ingest_upload(upload_id=upload.pk)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    finally:
        stop_node(node)
        if worker is not None:
            stop_worker(worker)
    floor_median, ingest_median, request_median = (statistics.median(v) for v in (floors, ingests, requests))
    print(
        f"floor (pydicom read + numpy MIP, one process): {floor_median:6.3f} s   rounds {[round(v, 3) for v in floors]}"
    )
    print(
        f"app, upload accepted -> MIP ready:             {ingest_median:6.3f} s   "
        f"rounds {[round(v, 3) for v in ingests]}"
    )
    print(
        f"app, the upload request itself (before 202):   {request_median:6.3f} s   "
        f"rounds {[round(v, 3) for v in requests]}"
    )
    waits, imports, renders = zip(*PHASES[1:], strict=True)
    print(
        f"  of which: waiting for the task {statistics.median(waits):.3f} s, "
        f"importing {statistics.median(imports):.3f} s, "
        f"rendering {statistics.median(renders):.3f} s (medians, from the database's timestamps)"
    )
    print(
        f"ratio app / floor: {ingest_median / floor_median:.2f} (target <= 2.0); "
        f"including the request: {(ingest_median + request_median) / floor_median:.2f}"
    )
    if peaks:
        how = "worker peak RSS growth (VmHWM)" if worker is not None else "tracemalloc peak during the import"
        peak = max(peaks)
        print(f"peak memory, {how}: {peak / 1e6:.1f} MB = {peak / series_bytes:.2f} x the series (target <= 3.0)")
    print_cstore(sends, after_sends, orthanc_sends, floor_median, measured=node is not None)
    print_stow(stows, after_stows, floor_median)
    if orthanc:
        stored = statistics.median(orthanc)
        print(
            f"Orthanc, storing the same files through its REST API: {stored:6.3f} s = "
            f"{args.slices / stored:.0f} files/s; "
            f"the app, upload request + import + MIP: {request_median + ingest_median:6.3f} s = "
            f"{args.slices / (request_median + ingest_median):.0f} files/s"
        )


if __name__ == "__main__":
    main()
