"""The DICOM node against dcmtk's echoscu and storescu: C-ECHO, refusal of unknown peers, C-STORE into
the usual import with routing by Patient ID, unmatched studies, refused files and duplicates."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage
from pynetdicom import AE

from core.models import AuditEvent
from imaging import rendering, services
from imaging.dicom import read_header
from imaging.dicom_node import StorageNode
from imaging.models import Instance, Series, Study, Upload, UploadFile
from tests.conftest import _database_url_for_worker
from tests.factories import DonorFactory
from tests.integration.imaging_support import phantom

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("storescu"), reason="dcmtk (storescu, echoscu) is not installed"),
]

CALLING = "MYPACS"


@pytest.fixture
def node(settings, tmp_path, eager_tasks):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    node = StorageNode(ae_title="LDLTWORKUP", port=0, bind="127.0.0.1")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def peer(centre):
    return services.register_dicom_peer(actor=None, centre=centre, ae_title=CALLING, host="127.0.0.1")


def echo(node, calling=CALLING):
    return subprocess.run(
        ["echoscu", "-aet", calling, "-aec", "LDLTWORKUP", "127.0.0.1", str(node.port)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def store(node, paths, calling=CALLING, options=()):
    return subprocess.run(
        ["storescu", "-aet", calling, "-aec", "LDLTWORKUP", *options, "127.0.0.1", str(node.port), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def finished_uploads(count=1, timeout=30.0) -> list[Upload]:
    """The uploads of the DICOM node once imported and rendered (this runs when the association ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        uploads = list(Upload.objects.filter(channel="dicom").order_by("pk"))
        rendering = Series.objects.filter(instances__upload__in=uploads).exclude(render_state__in=["done", "failed"])
        if len(uploads) >= count and all(u.finished for u in uploads) and not rendering.exists():
            return uploads
        time.sleep(0.1)
    raise AssertionError(f"no {count} finished DICOM upload(s) within {timeout} s")


def test_echo_is_answered_for_a_registered_peer(node, peer):
    answer = echo(node)
    assert answer.returncode == 0, answer.stderr


def test_an_unknown_calling_ae_is_rejected_and_audited(node, peer):
    answer = echo(node, calling="STRANGER")
    assert answer.returncode != 0
    assert "Calling AE Title Not Recognized" in answer.stderr + answer.stdout
    refused = AuditEvent.objects.get(kind=AuditEvent.Kind.DENIED, channel="dicom")
    assert "STRANGER" in refused.summary and "127.0.0.1" in refused.summary


def test_a_peer_calling_from_another_host_is_rejected(node, centre):
    services.register_dicom_peer(actor=None, centre=centre, ae_title="FARPACS", host="10.9.9.9")
    answer = echo(node, calling="FARPACS")
    assert answer.returncode != 0
    refused = AuditEvent.objects.get(kind=AuditEvent.Kind.DENIED, channel="dicom")
    assert "registered for host 10.9.9.9" in refused.summary
    assert refused.centre_id == centre.pk


def test_a_stored_series_is_imported_for_the_donor_with_that_mrn_with_its_mip(node, peer, centre, tmp_path):
    donor = DonorFactory(centre=centre)
    truth = phantom(tmp_path / "series", donor=donor, slices=8, size=48)
    answer = store(node, truth.paths)
    assert answer.returncode == 0, answer.stderr
    (upload,) = finished_uploads()
    assert upload.donor == donor and upload.state == Upload.State.DONE
    assert upload.accepted == 8 and upload.rejected == 0
    study = Study.objects.get(donor=donor)
    assert study.identity_state == Study.Identity.MATCHED
    series = Series.objects.get(study=study)
    assert series.instance_count == 8 and series.mip_path and series.render_state == Series.Render.DONE
    assert AuditEvent.objects.filter(donor_id=donor.pk, channel="dicom", summary__contains=CALLING).exists()

    # Sent again: every file is a duplicate, nothing new is stored.
    assert store(node, truth.paths).returncode == 0
    uploads = finished_uploads(2)
    assert uploads[1].duplicates == 8 and uploads[1].accepted == 0
    assert Instance.objects.filter(donor=donor).count() == 8


def test_an_unknown_patient_id_waits_among_unmatched_studies_until_attached(
    node, peer, centre, tmp_path, make_user, api_as
):
    donor = DonorFactory(centre=centre)
    truth = phantom(tmp_path / "series", slices=6, size=32, patient_id="NOBODY-1", patient_name="Nobody^Known")
    assert store(node, truth.paths).returncode == 0
    (upload,) = finished_uploads()
    assert upload.donor is None and upload.centre == centre and upload.accepted == 6
    study = Study.objects.get(study_instance_uid=truth.study_uid)
    assert study.donor is None and study.identity_state == Study.Identity.DETACHED
    assert "NOBODY-1" in study.identity_warning
    assert Series.objects.get(study=study).mip_path

    radiologist = api_as(make_user("radiologist", username="rad-scp"))
    listed = radiologist.get("/api/v1/studies/unmatched/")
    assert [s["study_uid"] for s in listed.json()] == [truth.study_uid]
    attached = radiologist.post(f"/api/v1/studies/{study.pk}/attach/", {"donor": donor.pk}, format="json")
    assert attached.status_code == 200, attached.content
    study.refresh_from_db()
    # The identity check applies: the files name someone else than the donor.
    assert study.donor == donor and study.identity_state == Study.Identity.UNRESOLVED
    assert Instance.objects.filter(donor=donor).count() == 6


def test_an_unmatched_study_can_be_discarded_with_a_reason(node, peer, centre, tmp_path, make_user, api_as):
    truth = phantom(tmp_path / "series", slices=4, size=32, patient_id="NOBODY-2")
    assert store(node, truth.paths).returncode == 0
    finished_uploads()
    study = Study.objects.get(study_instance_uid=truth.study_uid)
    files = list(Instance.objects.filter(series__study=study).values_list("file", flat=True))
    radiologist = api_as(make_user("radiologist", username="rad-scp2"))
    refused = radiologist.post(f"/api/v1/studies/{study.pk}/discard/", {"reason": ""}, format="json")
    assert refused.status_code == 400
    done = radiologist.post(f"/api/v1/studies/{study.pk}/discard/", {"reason": "sent by mistake"}, format="json")
    assert done.status_code == 204, done.content
    assert not Study.objects.filter(pk=study.pk).exists()
    assert not Instance.objects.filter(file__in=files).exists()
    assert not any(default_storage.exists(f) for f in files)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.DELETE, summary__contains="sent by mistake").exists()


def test_the_unmatched_page_lists_a_received_study_and_discards_it(node, peer, centre, tmp_path, make_user, client):
    truth = phantom(tmp_path / "series", slices=3, size=32, patient_id="NOBODY-3")
    assert store(node, truth.paths).returncode == 0
    finished_uploads()
    study = Study.objects.get(study_instance_uid=truth.study_uid)
    client.force_login(make_user("radiologist", username="rad-scp3"))
    page = client.get("/imaging/studies/unmatched/")
    assert page.status_code == 200
    assert b"NOBODY-3" in page.content and b"Discard study" in page.content
    refused = client.post(f"/imaging/studies/{study.pk}/discard/", {"reason": ""})
    assert refused.status_code == 400 and Study.objects.filter(pk=study.pk).exists()
    done = client.post(f"/imaging/studies/{study.pk}/discard/", {"reason": "another hospital's patient"})
    assert done.status_code == 302 and not Study.objects.filter(pk=study.pk).exists()


def test_two_donors_with_the_patient_id_make_the_study_unmatched(node, peer, centre, tmp_path):
    DonorFactory(centre=centre, mrn="TWICE-1")
    DonorFactory(centre=centre, mrn="TWICE-1")
    truth = phantom(tmp_path / "series", slices=3, size=32, patient_id="TWICE-1")
    assert store(node, truth.paths).returncode == 0
    (upload,) = finished_uploads()
    assert upload.donor is None
    assert Study.objects.get(study_instance_uid=truth.study_uid).donor is None


def test_a_file_the_reader_refuses_gets_a_failure_status_and_the_rest_is_stored(node, peer, centre, tmp_path):
    donor = DonorFactory(centre=centre)
    truth = phantom(tmp_path / "series", donor=donor, slices=4, size=32)
    broken = tmp_path / "broken.dcm"
    dataset = pydicom.dcmread(truth.paths[1])
    dataset.Rows = 33  # the pixel data no longer matches the header
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.save_as(broken)
    paths: list[Path] = [truth.paths[0], broken, *truth.paths[1:]]
    answer = store(node, paths, options=["--no-halt", "-d"])  # go on after a failure, as a PACS does
    said = answer.stderr + answer.stdout
    assert "0xc000: Error: Cannot understand" in said
    assert "[pixel data does not match its header" in said  # the reason, in the Error Comment
    (upload,) = finished_uploads()
    assert upload.accepted == 4 and upload.rejected == 1 and upload.state == Upload.State.DONE
    assert Instance.objects.filter(donor=donor).count() == 4
    (line,) = upload.files.filter(outcome="rejected")
    assert line.name == f"{dataset.SOPInstanceUID}.dcm" and "pixel data does not match" in line.reason


def test_an_association_of_refused_files_only_leaves_a_failed_upload_with_the_reasons(node, peer, centre, tmp_path):
    truth = phantom(tmp_path / "series", slices=1, size=32, patient_id="WHOEVER")
    dataset = pydicom.dcmread(truth.paths[0])
    dataset.Rows = 33  # more rows than the pixel data holds
    broken = tmp_path / "broken.dcm"
    dataset.save_as(broken)
    answer = store(node, [broken], options=["-v"])
    assert "Received Store Response (Error: CannotUnderstand)" in answer.stderr
    (upload,) = finished_uploads()
    assert upload.state == Upload.State.FAILED and upload.rejected == 1 and upload.donor is None
    assert "refused" in upload.error


def test_the_command_runs_the_node_in_its_own_process(peer, settings, tmp_path):
    """`manage.py dicom_scp` as docker-compose runs it: listening, answering C-ECHO, stopping on SIGTERM."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {
        "DATABASE_URL": _database_url_for_worker(),
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "DICOM_PORT": str(port),
        "DJANGO_DEBUG": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dicom_scp", "--bind", "127.0.0.1"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert f"DICOM node LDLTWORKUP listening on port {port}" in first, first
        answer = subprocess.run(
            ["echoscu", "-aet", CALLING, "-aec", "LDLTWORKUP", "127.0.0.1", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert answer.returncode == 0, answer.stderr
        assert (
            subprocess.run(
                ["echoscu", "-aet", "NOBODY", "127.0.0.1", str(port)], capture_output=True, timeout=30
            ).returncode
            != 0
        )
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and "DICOM node stopped" in output
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.DENIED, summary__contains="NOBODY").exists()


def test_each_study_of_an_association_is_routed_on_its_own(node, peer, centre, tmp_path):
    """Two patients' studies in one association: the donor's is filed under the donor, the other
    among the centre's unmatched studies, each with its own report and audit event."""
    donor = DonorFactory(centre=centre)
    known = phantom(tmp_path / "known", donor=donor, slices=5, size=32, seed=1)
    stranger = phantom(tmp_path / "stranger", slices=4, size=32, seed=2, patient_id="NOBODY-4", patient_name="No^Body")
    broken = tmp_path / "broken.dcm"
    dataset = pydicom.dcmread(stranger.paths[0])
    dataset.Rows = 33  # refused by the reader, but its study can still be read: it is reported with that study
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.save_as(broken)
    answer = store(node, [*known.paths, *stranger.paths, broken], options=["--no-halt", "-v"])
    assert answer.stderr.count("Received Store Response (Success)") == 9
    assert "Received Store Response (Error: CannotUnderstand)" in answer.stderr
    uploads = finished_uploads(2)
    assert len(uploads) == 2
    mine = next(u for u in uploads if u.donor_id == donor.pk)
    unmatched = next(u for u in uploads if u.donor_id is None)
    assert (mine.accepted, mine.rejected) == (5, 0)
    assert (unmatched.accepted, unmatched.centre_id) == (4, centre.pk)
    assert Study.objects.get(study_instance_uid=known.study_uid).donor == donor
    assert Study.objects.get(study_instance_uid=stranger.study_uid).donor is None
    assert sorted(mine.files.values_list("name", flat=True)) == sorted(f"{uid}.dcm" for uid in known.sop_instance_uids)
    (refused,) = UploadFile.objects.filter(outcome="rejected")
    assert refused.upload_id == unmatched.pk and "pixel data does not match" in refused.reason
    assert (unmatched.rejected, unmatched.state) == (1, Upload.State.DONE)
    received = AuditEvent.objects.filter(channel="dicom", summary__startswith="received")
    assert sorted(e.changes["study_instance_uid"] for e in received) == sorted([known.study_uid, stranger.study_uid])
    assert received.get(donor_id=donor.pk).summary.startswith(f"received 5 file(s) of study {known.study_uid}")


def test_the_mip_built_while_the_files_arrive_is_the_one_built_from_the_files(
    node, peer, centre, tmp_path, monkeypatch
):
    donor = DonorFactory(centre=centre)
    truth = phantom(tmp_path / "series", donor=donor, slices=12, size=48)
    reads: list[str] = []
    open_file = rendering.open_frames  # every read of a stored file in rendering goes through it

    def counted(source, *, name, **options):
        reads.append(name)
        return open_file(source, name=name, **options)

    monkeypatch.setattr(rendering, "open_frames", counted)
    assert store(node, truth.paths).returncode == 0
    finished_uploads()
    series = Series.objects.get(study__donor=donor)
    assert series.render_state == Series.Render.DONE and series.used_as_mrcp
    assert len(reads) == 1  # the middle slice, for its window: the MIP was not made from the files again
    on_arrival = rendering.load_mip_data(series)
    picture = rendering.stored_bytes(series.mip_path)
    thumbnail = rendering.stored_bytes(series.thumbnail_path)

    rendering.render(series)  # after the fact, from the stored files
    assert len(reads) == 1 + 1 + 12
    series.refresh_from_db()
    from_files = rendering.load_mip_data(series)
    assert on_arrival.keys() == from_files.keys()
    for key in on_arrival:
        assert np.array_equal(on_arrival[key], from_files[key], equal_nan=True), key
    assert rendering.stored_bytes(series.mip_path) == picture
    assert rendering.stored_bytes(series.thumbnail_path) == thumbnail


def test_a_series_sent_again_with_new_slices_is_projected_from_all_its_files(node, peer, centre, tmp_path):
    """The second association's MIP on arrival covers only its own slices: the series' MIP is made
    from all its stored files, as after any upload."""
    donor = DonorFactory(centre=centre)
    truth = phantom(tmp_path / "series", donor=donor, slices=10, size=40)
    assert store(node, truth.paths[:6]).returncode == 0
    finished_uploads()
    assert store(node, truth.paths[4:]).returncode == 0  # two already stored, four new
    second = finished_uploads(2)[1]
    assert (second.accepted, second.duplicates) == (4, 2)
    series = Series.objects.get(study__donor=donor)
    assert series.instance_count == 10 and series.rendered_instances == 10
    projected = rendering.load_mip_data(series)
    rendering.render(series)
    series.refresh_from_db()
    again = rendering.load_mip_data(series)
    assert all(np.array_equal(projected[key], again[key], equal_nan=True) for key in projected)


def test_uploads_the_node_left_unfinished_are_queued_when_it_starts_again(
    peer, centre, settings, tmp_path, eager_tasks
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    donor = DonorFactory(centre=centre)
    truth = phantom(tmp_path / "series", donor=donor, slices=3, size=32)
    files = []
    for index, source in enumerate(truth.paths):
        with open(source, "rb") as handle:
            path = default_storage.save(f"imaging/received/left/{index:05d}.dcm", File(handle))
        header = read_header(source, name=source.name)
        files.append(
            services.Received(
                path=path,
                name=source.name,
                size=source.stat().st_size,
                patient_id=header.patient_id,
                study_instance_uid=header.study_instance_uid,
            )
        )
    (upload,) = services.file_received(peer=peer, address="127.0.0.1", files=files, queue_import=False)
    upload.refresh_from_db()
    assert upload.state == Upload.State.RECEIVED  # the node stopped before importing it

    assert services.queue_unfinished_node_imports() == [upload.pk]
    upload.refresh_from_db()
    assert upload.state == Upload.State.DONE and upload.accepted == 3
    assert services.queue_unfinished_node_imports() == []


def test_an_aborted_association_files_what_was_answered(node, peer, centre, tmp_path, caplog):
    """A sender that aborts after some C-STOREs (pynetdicom as the peer): the answered files are imported."""
    donor = DonorFactory(centre=centre)
    truth = phantom(tmp_path / "series", donor=donor, slices=4, size=32)
    sender = AE(ae_title=CALLING)
    sender.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    association = sender.associate("127.0.0.1", node.port, ae_title="LDLTWORKUP")
    assert association.is_established
    for path in truth.paths[:3]:
        assert association.send_c_store(pydicom.dcmread(path)).Status == 0x0000
    association.abort()
    (upload,) = finished_uploads()
    assert upload.donor == donor and upload.accepted == 3 and upload.state == Upload.State.DONE
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
