"""Slice pictures through the viewer's view against the floor of reading and encoding one slice.

A generated MRCP series (default 160 slices of 384 x 384) is imported through the imaging services
into a scratch PostgreSQL database (`ldlt_bench_slices`). Then, in the same run:

* view, cold: every slice requested once through the Django test client (the view reads the
  stored file, windows it and encodes a PNG), in a shuffled order;
* view, warm: the same requests again (files in the OS cache, the image read already audited);
* view, revalidated: the same requests with the ETag the browser keeps (answered 304);
* floor: per slice, pydicom reading the stored file, a numpy window and a Pillow PNG encode
  (compress level 1, as the app), with nothing else.

Prints p50 and p95 of each in ms, the SQL queries per request and the ratios of the view to the
floor. The revalidated line is what a request costs without the picture (session, login, the one
query for the slice with its series): the view should cost about the floor plus that, whatever the
length of the series (it never reads more than the slice's own file). On an idle machine: floor
about 5 ms, view about 15 ms, revalidated about 8 ms, 3 queries.

    python bench/slice_latency.py [--slices 160] [--size 384] [--seed 5]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import scratch_database, setup_django  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(name: str, seconds: list[float], floor_p50: float | None = None) -> str:
    p50, p95 = percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000
    line = f"{name:<24} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms"
    if floor_p50:
        line += f"   p50 / floor p50: {p50 / (floor_p50 * 1000):5.2f}"
    return line


def floor_slice(data: bytes, center: float, width: float) -> bytes:
    """Read one stored file, window it and encode a PNG, with nothing of the app around it."""
    import pydicom
    from PIL import Image

    dataset = pydicom.dcmread(io.BytesIO(data))
    pixels = dataset.pixel_array.astype(np.float32)
    pixels = pixels * float(getattr(dataset, "RescaleSlope", 1) or 1) + float(getattr(dataset, "RescaleIntercept", 0))
    scaled = np.clip((pixels - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255
    buffer = io.BytesIO()
    Image.fromarray(np.rint(scaled).astype(np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def import_series(donor, radiologist, *, slices: int, size: int, seed: int):
    from classification.presets import preset_document
    from core.audit import Actor
    from imaging import jobs, services
    from imaging.dicom import generate_series, write_zip
    from imaging.models import Series

    with tempfile.TemporaryDirectory(prefix="ldlt-bench-slices-") as folder:
        phantom = generate_series(
            preset_document("typical_right_lobe"),
            Path(folder) / "series",
            slices=slices,
            rows=size,
            columns=size,
            seed=seed,
            patient_id=donor.mrn,
            patient_name=f"{donor.family_name}^{donor.given_name}",
        )
        archive = write_zip(phantom.paths, Path(folder) / "mrcp.zip")
        upload = services.create_upload(
            actor=Actor(user=radiologist, channel="command"),
            donor=donor,
            channel="command",
            files=[services.Incoming("mrcp.zip", archive.stat().st_size, archive)],
        )
        jobs.ingest_upload(upload_id=upload.pk, channel="command")
    return Series.objects.get(study__donor=donor)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=160)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    url = scratch_database("ldlt_bench_slices")
    media = tempfile.mkdtemp(prefix="ldlt-bench-slices-media-")
    setup_django(url, DJANGO_MEDIA_ROOT=media, CELERY_TASK_ALWAYS_EAGER="true", CELERY_BROKER_URL="")
    import datetime

    from celery import current_app
    from django.core.files.storage import default_storage
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from donors.models import Centre, Donor, User

    current_app.conf.task_always_eager = True
    centre = Centre.objects.create(name="Bench Centre", code="bench")
    radiologist = User.objects.create(username="bench-radiologist", centre=centre, roles=["radiologist"])
    donor = Donor.objects.create(
        centre=centre,
        code="B-SLICES",
        mrn="M-SLICES",
        given_name="Bench",
        family_name="Slices",
        date_of_birth=datetime.date(1985, 3, 1),
        sex="female",
        abo="O",
        relationship="sibling",
        planned_graft="right_lobe",
    )
    started = time.perf_counter()
    series = import_series(donor, radiologist, slices=args.slices, size=args.size, seed=args.seed)
    print(
        f"{series.instance_count} slices of {series.rows} x {series.columns} imported in "
        f"{time.perf_counter() - started:.1f} s; PostgreSQL scratch database ldlt_bench_slices; "
        "in-process Django test client"
    )
    center, width = series.slice_window
    query = f"?wc={center:.0f}&ww={width:.0f}"  # as the viewer asks (its window, rounded)
    paths = [f"/imaging/series/{series.pk}/slices/{index}.png{query}" for index in range(series.instance_count)]
    random.Random(args.seed).shuffle(paths)
    client = Client()
    client.force_login(radiologist)
    client.get(f"/imaging/series/{series.pk}/")  # the viewer page, as a person opens it

    def request(path: str, **headers):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code in (200, 304), (path, response.status_code)
        return elapsed, response

    instances = {i.slice_index: i for i in series.instances.all()}

    def floor_of(path: str) -> float:
        index = int(path.rsplit("/", 1)[1].split(".")[0])
        start = time.perf_counter()
        with default_storage.open(instances[index].file, "rb") as handle:
            floor_slice(handle.read(), center, width)
        return time.perf_counter() - start

    # The floor and the view take turns slice by slice, so a busy machine slows both alike.
    cold, warm, revalidated, floor, etags = [], [], [], [], {}
    for path in paths:
        floor.append(floor_of(path))
        elapsed, response = request(path)
        cold.append(elapsed)
        etags[path] = response["ETag"]
        assert response["Cache-Control"].startswith("private, max-age="), response["Cache-Control"]
    for path in paths:
        floor.append(floor_of(path))
        warm.append(request(path)[0])
        elapsed, response = request(path, if_none_match=etags[path])
        assert response.status_code == 304
        revalidated.append(elapsed)
    with CaptureQueriesContext(connection) as captured:
        request(paths[0])
    floor_p50 = percentile(floor, 0.5)

    print(f"SQL queries per slice request (warm): {len(captured)}")
    print(summary("floor (read + encode)", floor))
    print(summary("view, cold", cold, floor_p50))
    print(summary("view, warm", warm, floor_p50))
    print(summary("view, revalidated (304)", revalidated, floor_p50))
    size = statistics.median(len(client.get(path).content) for path in paths[:10])
    print(f"median PNG {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
