"""The demo: `seed_demo` holds a donor at every stage, made through the app's own services, and a
second run changes nothing; `write_phantom_study` writes a zip the upload accepts."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from classification.models import Annotation, ClassificationRun, SurgicalOutcome
from core.audit import Actor
from core.models import AuditEvent
from donors.models import Centre, Donor, Recipient, StatusChange
from donors.workflow import Status
from imaging import jobs as imaging_jobs
from imaging import services as imaging_services
from imaging.models import Instance, Series, Study, Upload
from reports.cohort import cohort_statistics
from reports.models import ReportVersion
from workup import selectors as ws
from workup.models import Decision, DecisionSignOff
from workup.services import KINDS

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

DONATED = [f"DEMO-{n:03d}" for n in range(8, 16)]
CANDIDATES = [f"DEMO-{n:03d}" for n in range(16, 21)]


@pytest.fixture(scope="module")
def seeded_once(django_db_setup, django_db_blocker, tmp_path_factory):
    """One seeding (about half a minute) shared by this module's tests, rolled back at its end."""
    from celery import current_app

    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    # The demo makes a dozen users: a fast hasher keeps the setup short (nothing here checks hashing).
    media = tmp_path_factory.mktemp("demo-media")
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        override_settings(MEDIA_ROOT=str(media), PASSWORD_HASHERS=fast),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        yield out.getvalue(), str(media)
        transaction.set_rollback(True)
    current_app.conf.task_always_eager = eager


@pytest.fixture
def seeded(seeded_once, db, settings):
    printed, media = seeded_once
    settings.MEDIA_ROOT = media
    return printed


def demo_donor(code: str) -> Donor:
    return Donor.objects.get(centre__code="demo", code=code)


def snapshot() -> dict:
    """Everything the demo makes: counts per table and each demo donor's stage."""
    counts = {
        model.__name__: model._default_manager.count()
        for model in (
            Centre,
            Donor,
            Recipient,
            StatusChange,
            Annotation,
            ClassificationRun,
            Decision,
            DecisionSignOff,
            SurgicalOutcome,
            ReportVersion,
            Upload,
            Study,
            Series,
            Instance,
            AuditEvent,
        )
    }
    counts |= {kind: spec.model._default_manager.count() for kind, spec in KINDS.items()}
    donors = {}
    for donor in Donor.objects.filter(centre__code="demo").order_by("code"):
        annotation = Annotation.objects.filter(donor=donor).first()
        outcome = SurgicalOutcome.objects.filter(donor=donor).first()
        donors[donor.code] = {
            "status": donor.status,
            "version": donor.version,
            "records": {kind: spec.model._default_manager.filter(donor=donor).count() for kind, spec in KINDS.items()},
            "anatomy": annotation
            and (annotation.state, annotation.revision, annotation.classification, annotation.document_sha256),
            "decisions": [
                (d.decision_outcome, d.decision_state, sorted(d.sign_offs.values_list("signed_as", flat=True)))
                for d in Decision.objects.filter(donor=donor).order_by("pk")
            ],
            "reports": list(ReportVersion.objects.filter(donor=donor).values_list("number", "pdf_state", "pdf_sha256")),
            "outcome": outcome
            and (outcome.operated_on, outcome.anastomoses, outcome.technique, outcome.proposed_type, outcome.version),
            "studies": list(Study.objects.filter(donor=donor).values_list("study_instance_uid", "identity_state")),
        }
    return {"counts": counts, "donors": donors}


def test_seed_demo_twice_gives_the_same_data(seeded):
    first = snapshot()
    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert snapshot() == first
    assert "MRCP phantoms: DEMO-001, DEMO-002, DEMO-003, DEMO-004 (224 images" in seeded
    assert "Study cohort (imported 93 outcomes, 93 illustrative anatomies)" in seeded
    assert "MRCP phantoms: already present" in again.getvalue()
    assert "Study cohort (already loaded)" in again.getvalue()
    # The second run still tells which donor shows which stage.
    assert "DEMO-001 (/donors/" in again.getvalue() and "fully worked up" in again.getvalue()
    assert len(first["donors"]) == 20 and first["counts"]["SurgicalOutcome"] == 8 + 93


def test_the_demo_centre_holds_a_donor_at_every_stage(seeded):
    for code, stage in (("DEMO-001", "fully worked up"), ("DEMO-003", "declined"), ("DEMO-004", "identity")):
        assert f"{code} (/donors/{demo_donor(code).pk}/)" in seeded and stage in seeded
    for user in ("coordinator", "radiologist", "hepatologist", "surgeon", "auditor"):
        assert f"  {user} " in seeded

    # Fully worked up: every check passes, the decision is signed, the report and its PDF exist.
    full = demo_donor("DEMO-001")
    assert full.status == Status.SUITABLE
    evaluation = ws.evaluate(full)
    assert evaluation.outstanding == [] and {i.state for i in evaluation.items if not i.optional} == {"pass"}
    annotation = Annotation.objects.get(donor=full)
    study = Study.objects.get(donor=full)
    assert (annotation.state, annotation.classification) == ("final", "done")
    assert annotation.study_uid == study.study_instance_uid and study.identity_state == "matched"
    decision = Decision.objects.get(donor=full)
    assert (decision.decision_outcome, decision.decision_state, decision.overridden) == ("suitable", "complete", [])
    assert sorted(decision.sign_offs.values_list("signed_as", flat=True)) == ["hepatologist", "radiologist", "surgeon"]
    version = ReportVersion.objects.get(donor=full)
    assert version.pdf_state == "ready" and version.mip_path  # the report shows the MRCP's projection
    with default_storage.open(version.pdf.name) as pdf:
        assert pdf.read(5) == b"%PDF-"

    # Half done: some records, a draft anatomy on its MRCP, much still outstanding.
    half = demo_donor("DEMO-002")
    assert half.status == Status.IN_EVALUATION
    assert Annotation.objects.get(donor=half).state == "draft"
    assert len(ws.evaluate(half).outstanding) >= 3
    assert {d.status for d in Donor.objects.filter(code__in=["DEMO-005", "DEMO-006"])} == {Status.IN_EVALUATION}

    # Type 3, declined by the signed decision.
    declined = demo_donor("DEMO-003")
    assert declined.status == Status.NOT_SUITABLE and ws.evaluate(declined).biliary_type == "3"
    assert Decision.objects.get(donor=declined).decision_outcome == "not_suitable"

    # A study whose files name someone else waits for a radiologist.
    mismatch = Study.objects.get(donor=demo_donor("DEMO-004"))
    assert mismatch.identity_state == "unresolved" and mismatch.patient_id != demo_donor("DEMO-004").mrn

    # A decision waiting for the surgeon's sign-off.
    waiting = Decision.objects.get(donor=demo_donor("DEMO-007"), decision_state="open")
    assert sorted(waiting.sign_offs.values_list("signed_as", flat=True)) == ["hepatologist", "radiologist"]

    # Donated donors with their outcomes: the demo centre's cohort page has numbers.
    donated = Donor.objects.filter(centre__code="demo", code__in=DONATED)
    assert {d.status for d in donated} == {Status.DONATED}
    assert SurgicalOutcome.objects.filter(donor__in=donated, source="recorded").count() == len(DONATED)
    statistics = cohort_statistics(full.centre)
    assert statistics["outcomes"] == {"total": len(DONATED), "recorded": len(DONATED), "imported": 0}
    # The final anatomies of the donated donors, DEMO-001, the declined DEMO-003 and DEMO-007.
    assert statistics["annotated_donors"] == len(DONATED) + 3
    client = Client()
    client.post("/accounts/login/", {"username": "surgeon", "password": "demo-pass-2026"})
    page = client.get("/reports/cohort/")
    assert page.status_code == 200 and "Demo Transplant Centre" in page.content.decode()

    # New candidates with nothing recorded.
    for donor in Donor.objects.filter(centre__code="demo", code__in=CANDIDATES):
        assert donor.status == Status.CANDIDATE and ws.evaluate(donor).records.labs is None


def test_the_demo_values_are_plausible_and_every_status_came_through_its_door(seeded):
    today = timezone.localdate()
    for donor in Donor.objects.filter(centre__code="demo").select_related("recipient"):
        bmi = float(donor.weight_kg) / (float(donor.height_cm) / 100) ** 2
        assert 20 <= bmi <= 27.5, (donor.code, bmi)
        assert 21 <= donor.age_years <= 55 and donor.date_of_birth < today
        recipient_age = donor.recipient.age_years
        if donor.relationship == "parent":
            assert donor.age_years - recipient_age >= 18, donor.code
        if donor.relationship == "child":
            assert recipient_age - donor.age_years >= 18, donor.code
        if donor.recipient.abo != "AB":
            assert donor.abo in ("O", donor.recipient.abo), donor.code
        for spec in KINDS.values():
            assert not spec.model._default_manager.filter(donor=donor, measured_on__gt=today).exists()
        # Each status change is audited as a transition by the person who made it.
        changes = StatusChange.objects.filter(donor=donor)
        transitions = AuditEvent.objects.filter(kind="transition", record_type="donors.Donor", record_id=str(donor.pk))
        assert transitions.count() == changes.count()
    for labs in KINDS["labs"].model._default_manager.filter(donor__centre__code="demo"):
        assert labs.ast <= labs.ast_uln and labs.alt <= labs.alt_uln and 150 <= labs.platelets <= 400
    assert not SurgicalOutcome.objects.filter(donor__centre__code="demo", operated_on__gt=today).exists()


def test_the_phantom_study_command_writes_a_zip_the_upload_accepts(centre, make_user, tmp_path, settings):
    from tests.factories import DonorFactory

    settings.MEDIA_ROOT = str(tmp_path / "media")
    donor = DonorFactory(centre=centre)
    out = tmp_path / "phantom.zip"
    printed = io.StringIO()
    call_command(
        "write_phantom_study",
        "--out",
        str(out),
        "--preset",
        "trifurcation",
        "--patient-id",
        donor.mrn,
        "--patient-name",
        f"{donor.family_name}^{donor.given_name}",
        "--slices",
        "12",
        stdout=printed,
    )
    assert "12 slices (trifurcation)" in printed.getvalue()
    with zipfile.ZipFile(out) as archive:
        assert len(archive.namelist()) == 12
    radiologist = make_user("radiologist")
    upload = imaging_services.create_upload(
        actor=Actor(user=radiologist),
        donor=donor,
        files=[imaging_services.Incoming(out.name, out.stat().st_size, out)],
    )
    imaging_jobs.ingest_upload(upload_id=upload.pk)
    upload.refresh_from_db()
    assert (upload.state, upload.accepted, upload.rejected) == ("done", 12, 0)
    study = Study.objects.get(donor=donor)
    assert study.identity_state == "matched"
    assert Series.objects.get(study=study).instance_count == 12


def test_the_phantom_study_command_writes_one_enhanced_mr_file_with_enhanced(centre, make_user, tmp_path, settings):
    from tests.factories import DonorFactory

    settings.MEDIA_ROOT = str(tmp_path / "media")
    donor = DonorFactory(centre=centre)
    out = tmp_path / "phantom.zip"
    printed = io.StringIO()
    call_command(
        "write_phantom_study",
        "--out",
        str(out),
        "--patient-id",
        donor.mrn,
        "--patient-name",
        f"{donor.family_name}^{donor.given_name}",
        "--slices",
        "10",
        "--enhanced",
        stdout=printed,
    )
    assert "10 slices in one Enhanced MR file" in printed.getvalue()
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["MRCP/MF0001.dcm"]
    upload = imaging_services.create_upload(
        actor=Actor(user=make_user("radiologist")),
        donor=donor,
        files=[imaging_services.Incoming(out.name, out.stat().st_size, out)],
    )
    imaging_jobs.ingest_upload(upload_id=upload.pk)
    upload.refresh_from_db()
    assert (upload.state, upload.accepted, upload.rejected) == ("done", 1, 0)
    series = Series.objects.get(study__donor=donor)
    assert (series.instance_count, series.slice_count, series.render_state) == (1, 10, "done")
    assert series.is_mrcp and series.mip_path


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("{tmp}/no-such-folder/phantom.zip", "the folder {tmp}/no-such-folder does not exist"),
        ("{tmp}", "is a folder; give a file name inside it"),
        ("{tmp}/phantom.dcm", "must end in .zip"),
    ],
)
def test_the_phantom_study_command_refuses_a_wrong_out_path(tmp_path, out, reason):
    with pytest.raises(CommandError) as refused:
        call_command("write_phantom_study", "--out", out.format(tmp=tmp_path))
    assert reason.format(tmp=tmp_path) in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_demo_donor_changed_by_hand_is_left_as_it_is(seeded):
    from donors.models import User
    from workup.services import propose_decision

    donor = demo_donor("DEMO-007")
    waiting = Decision.objects.get(donor=donor, decision_state="open")
    mine = propose_decision(
        actor=Actor(user=User.objects.get(username="hepatologist")),
        donor=donor,
        outcome="not_suitable",
        reasons="the team met again",
        replaces=waiting.pk,
    )
    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert "DEMO-007" in again.getvalue() and "left as it is" in again.getvalue()
    assert "its open decision proposes not suitable" in again.getvalue()
    mine.refresh_from_db()
    assert mine.decision_state == "open" and not mine.sign_offs.exists()
    assert demo_donor("DEMO-007").status == Status.IN_EVALUATION


def _pixels_of(path):
    import pydicom

    with zipfile.ZipFile(path) as archive:
        frames = {}
        for name in archive.namelist():
            dataset = pydicom.dcmread(io.BytesIO(archive.read(name)))
            frames[int(dataset.InstanceNumber)] = dataset.pixel_array.astype(float)
    return [frames[number] for number in sorted(frames)]


def test_the_phantom_study_command_writes_a_realistic_study_at_the_asked_snr(tmp_path):
    def write(name, *flags):
        printed = io.StringIO()
        call_command("write_phantom_study", "--out", str(tmp_path / name), "--slices", "8", *flags, stdout=printed)
        return printed.getvalue(), _pixels_of(tmp_path / name)

    said, noisy = write("noisy.zip", "--realistic", "--snr", "5", "--seed", "3")
    _, again = write("again.zip", "--realistic", "--snr", "5", "--seed", "3")
    _, clean = write("clean.zip", "--realistic", "--snr", "200", "--seed", "3")
    _, plain = write("plain.zip", "--seed", "3")
    assert "realistic at SNR 5" in said
    # Seeded: the same flags give the same pixels.
    assert all(np.array_equal(a, b) for a, b in zip(noisy, again, strict=True))
    # Rician noise at the asked SNR: dark air's noise floor rises as the SNR falls.
    corner = (slice(0, 16), slice(0, 16))
    assert np.mean([s[corner].std() for s in noisy]) > 10 * np.mean([s[corner].std() for s in clean])
    assert not all(np.array_equal(a, b) for a, b in zip(clean, plain, strict=True))


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--snr", "8"], "--snr and --breathing need --realistic"),
        (["--realistic", "--snr", "0"], "--snr 0 is outside 1-1000"),
        (["--realistic", "--breathing", "-1"], "--breathing -1 is outside 0-10 mm"),
    ],
)
def test_the_phantom_study_command_refuses_realism_that_makes_no_sense(tmp_path, flags, reason):
    with pytest.raises(CommandError) as refused:
        call_command("write_phantom_study", "--out", str(tmp_path / "phantom.zip"), *flags)
    assert reason in str(refused.value)
    assert list(tmp_path.iterdir()) == []
