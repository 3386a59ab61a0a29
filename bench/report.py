"""Suitability report page and PDF for a fully worked-up donor, against a bare page and a one-line
WeasyPrint PDF, in the same run on a scratch PostgreSQL database.

Prints the median time of each, their ratios, and the SQL queries per report page for a donor
with few records and for one with many more records, classification runs and issued versions
(target: the same small constant).

    python bench/report.py [--rounds 30] [--pdf-rounds 5]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import scratch_database, setup_django  # noqa: E402

TODAY = datetime.date.today()
DAY = TODAY - datetime.timedelta(days=2)


# ---------------------------------------------------------------- the bench URLs (this module is the urlconf)


def _bare_page(request):
    """The site's layout around one line: what every page costs before its own content."""
    from django.http import HttpResponse
    from django.template import engines

    template = engines["django"].from_string(
        '{% extends "base.html" %}{% block content %}<h1>Bare page</h1><p>One line.</p>{% endblock %}'
    )
    return HttpResponse(template.render({}, request))


def __getattr__(name):  # the URL patterns are built lazily, after django.setup()
    if name == "urlpatterns":
        from django.contrib.auth.decorators import login_required
        from django.urls import path

        from config.urls import urlpatterns as app_urlpatterns

        return app_urlpatterns + [path("bench/bare-page/", login_required(_bare_page))]
    raise AttributeError(name)


# ---------------------------------------------------------------- data


def _actor(user):
    from core.audit import Actor

    return Actor(user=user, channel="command")


def seed(*, many: bool, code: str, staff: dict, centre):
    """A donor with every workup record, a final classified anatomy, the team's signed decision and a
    phantom MRCP imported through the imaging services; `many` adds records, runs and versions."""
    from classification import services as cs
    from classification.models import Annotation
    from classification.presets import preset_document
    from donors.models import Donor, Recipient
    from workup import services as wsv

    recipient = Recipient.objects.create(
        centre=centre,
        code=f"R-{code}",
        age_years=52,
        weight_kg=Decimal("70.0"),
        abo="A",
        diagnosis="viral_hepatitis",
        own_duct_usable=True,
    )
    donor = Donor.objects.create(
        centre=centre,
        code=code,
        mrn=f"M-{code}",
        given_name="Bench",
        family_name=code,
        date_of_birth=datetime.date(TODAY.year - 38, 3, 1),
        sex="female",
        height_cm=Decimal("165.0"),
        weight_kg=Decimal("62.0"),
        abo="O",
        relationship="sibling",
        planned_graft="right_lobe",
        recipient=recipient,
        status="in_evaluation",
    )
    radiologist = _actor(staff["radiologist"])
    documents = [preset_document("typical_right_lobe")]
    if many:
        for mm in (4.0, 9.0, 12.0, 6.0):
            document = preset_document("typical_right_lobe")
            next(d for d in document["ducts"] if d["id"] == "RHD")["length_mm"] = mm
            documents.append(document)
        documents.append(preset_document("typical_right_lobe"))
    annotation = None
    for document in documents:
        annotation = cs.save_annotation(
            actor=radiologist,
            donor=donor,
            document=document,
            expected_version=annotation.version if annotation else None,
            study_uid="",
        )
        cs.classify_annotation(annotation_id=annotation.pk)
        annotation = Annotation.objects.get(pk=annotation.pk)
    cs.finalise_annotation(actor=radiologist, annotation=annotation, expected_version=annotation.version)
    repeat = 5 if many else 1
    for n in range(repeat):
        wsv.record_workup(
            actor=_actor(staff["hepatologist"]),
            donor=donor,
            kind="labs",
            values={
                "measured_on": DAY,
                "ast": Decimal(20 + n),
                "ast_uln": Decimal(40),
                "alt": Decimal(25),
                "alt_uln": Decimal(41),
                "platelets": Decimal(250),
                "serology": "HBsAg, anti-HCV, HIV negative",
            },
        )
        wsv.record_workup(
            actor=radiologist,
            donor=donor,
            kind="volumetry",
            values={
                "measured_on": DAY,
                "total_liver_volume_ml": Decimal(1500),
                "graft_volume_ml": Decimal(900 - n),
                "remnant_volume_ml": Decimal(600),
                "density_factor": Decimal("1.0"),
                "recipient_weight_kg": Decimal(70),
                "recipient_height_cm": Decimal(160),
            },
        )
        for modality, values in (
            ("mri_pdff", {"pdff_pct": Decimal(3)}),
            ("ct", {"liver_hu": Decimal(58), "spleen_hu": Decimal(50)}),
        ):
            wsv.record_workup(
                actor=radiologist,
                donor=donor,
                kind="steatosis",
                values={"measured_on": DAY, "modality": modality} | values,
            )
        wsv.record_workup(
            actor=radiologist, donor=donor, kind="hepatic-artery", values={"measured_on": DAY, "michels_type": "I"}
        )
        wsv.record_workup(
            actor=radiologist,
            donor=donor,
            kind="portal-vein",
            values={"measured_on": DAY, "portal_scheme": "nakamura", "portal_type": "A"},
        )
        wsv.record_workup(
            actor=radiologist,
            donor=donor,
            kind="hepatic-veins",
            values={
                "measured_on": DAY,
                "mhv_with_graft": False,
                "v5_mm": Decimal(3),
                "v8_mm": Decimal(2),
                "inferior_right_hv_mm": Decimal(0),
            },
        )
        for kind in ("psychosocial", "donor_advocate"):
            wsv.record_workup(
                actor=_actor(staff["coordinator"]),
                donor=donor,
                kind="clearances",
                values={"measured_on": DAY, "clearance_kind": kind, "clearance_status": "cleared"},
            )
    decision = wsv.propose_decision(
        actor=_actor(staff["surgeon"]),
        donor=donor,
        outcome="suitable",
        reasons="complete workup",
        override_reason="biliary type 1 from the final anatomy",
    )
    for role in ("radiologist", "hepatologist", "surgeon"):
        wsv.sign_decision(actor=_actor(staff[role]), donor=donor, decision_id=decision.pk, signed_as=role)
    _phantom_mrcp(donor, staff["radiologist"])
    if many:
        from reports.services import issue_report

        for _ in range(3):
            issue_report(actor=_actor(staff["surgeon"]), donor=donor)  # PDFs are not rendered here
    return Donor.objects.select_related("recipient", "centre").get(pk=donor.pk)


def _phantom_mrcp(donor, radiologist) -> None:
    from classification.presets import preset_document
    from imaging import jobs, services
    from imaging.dicom import generate_series, write_zip

    with tempfile.TemporaryDirectory(prefix="ldlt-bench-mrcp-") as folder:
        phantom = generate_series(
            preset_document("typical_right_lobe"),
            Path(folder) / "series",
            slices=48,
            rows=256,
            columns=256,
            seed=3,
            patient_id=donor.mrn,
            patient_name=f"{donor.family_name}^{donor.given_name}",
        )
        archive = write_zip(phantom.paths, Path(folder) / "mrcp.zip")
        upload = services.create_upload(
            actor=_actor(radiologist),
            donor=donor,
            channel="command",
            files=[services.Incoming("mrcp.zip", archive.stat().st_size, archive)],
        )
        jobs.ingest_upload(upload_id=upload.pk, channel="command")


# ---------------------------------------------------------------- measuring


def timed(fn, rounds: int) -> list[float]:
    fn()  # warm up (templates, fonts, connections)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def queries(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    return len(captured)


def _page_count(data: bytes) -> str:
    import subprocess

    try:
        info = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return next((line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")), "?")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pdf-rounds", type=int, default=5)
    args = parser.parse_args()

    url = scratch_database("ldlt_bench_report")
    media = tempfile.mkdtemp(prefix="ldlt-bench-report-media-")
    setup_django(
        url,
        DJANGO_ROOT_URLCONF="bench.report",
        DJANGO_MEDIA_ROOT=media,
        CELERY_TASK_ALWAYS_EAGER="true",
        CELERY_BROKER_URL="",
    )
    from celery import current_app
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from donors.models import Centre, User
    from reports import pdf
    from reports.content import report_content

    current_app.conf.task_always_eager = True
    centre = Centre.objects.create(name="Bench Centre", code="bench")
    staff = {}
    for role in ("coordinator", "radiologist", "hepatologist", "surgeon"):
        staff[role] = User.objects.create(
            username=f"bench-{role}", centre=centre, roles=[role], first_name=role.capitalize(), last_name="Bench"
        )
    few = seed(many=False, code="B-FEW", staff=staff, centre=centre)
    many = seed(many=True, code="B-MANY", staff=staff, centre=centre)
    client = Client()
    client.force_login(staff["surgeon"])

    print(
        f"PostgreSQL scratch database ldlt_bench_report; in-process Django test client; median of {args.rounds} "
        f"page requests and {args.pdf_rounds} PDF renders (after one warm-up each)"
    )
    q_few = queries(client, f"/reports/donors/{few.pk}/")
    q_many = queries(client, f"/reports/donors/{many.pk}/")
    q_bare = queries(client, "/bench/bare-page/")
    with CaptureQueriesContext(connection) as captured:
        report_content(many)
    print(
        f"SQL queries per report page: donor with 1 record of each kind, 1 run: {q_few}; with 5 of each, "
        f"6 runs, 3 issued versions: {q_many}; bare page: {q_bare}; report_content() alone: {len(captured)}"
    )

    page = statistics.median(timed(lambda: client.get(f"/reports/donors/{many.pk}/"), args.rounds))
    bare = statistics.median(timed(lambda: client.get("/bench/bare-page/"), args.rounds))
    print(f"report page (HTML):      {page * 1000:8.1f} ms")
    print(f"bare page:               {bare * 1000:8.1f} ms   ratio report / bare: {page / bare:.1f}")

    content = report_content(many)
    from django.core.files.storage import default_storage

    from imaging.selectors import mrcp_mip_series

    series = mrcp_mip_series(donor=many)
    mip = default_storage.open(series.mip_path, "rb").read() if series else None
    report_pdf = statistics.median(timed(lambda: pdf.render_report_pdf(content, mip_png=mip), args.pdf_rounds))
    one_line = statistics.median(timed(lambda: pdf.html_to_pdf("<p>One line.</p>"), args.pdf_rounds))
    pages = _page_count(pdf.render_report_pdf(content, mip_png=mip))
    print(f"report PDF ({pages} pages):     {report_pdf * 1000:8.1f} ms")
    print(f"one-line WeasyPrint PDF: {one_line * 1000:8.1f} ms   ratio report / one line: {report_pdf / one_line:.1f}")
    print(f"MIP in the report: {'yes' if mip else 'no'} ({len(mip or b'')} bytes)")


if __name__ == "__main__":
    main()
