"""DICOM ingest through the upload API and the import command: what is accepted, what is
rejected and why, duplicates, resuming after a crash, identity checks."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from core.audit import Actor
from core.models import AuditEvent
from imaging import ingest, jobs, services
from imaging.dicom import read_header, write_zip
from imaging.models import Instance, Series, Study, Upload, UploadFile, UploadSource
from tests.factories import DonorFactory
from tests.integration.imaging_support import (
    MR_VARIANTS,
    as_uploads,
    lines,
    named,
    phantom,
    report,
    rewritten,
    shipped,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users
    return tmp_path / "media"


@pytest.fixture
def radiologist(make_user):
    return make_user("radiologist")


@pytest.fixture
def client(api_as, radiologist):
    return api_as(radiologist)


def stored_files(media):
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())


def test_a_generated_series_is_ingested_ordered_and_rendered(
    client, donor, tmp_path, media, eager_tasks, django_capture_on_commit_callbacks
):
    series_files = phantom(tmp_path / "s", donor=donor, slices=20)
    shuffled = list(reversed(series_files.paths))  # arrival order must not matter
    body = upload(client, donor, as_uploads(shuffled), django_capture_on_commit_callbacks)
    result = report(client, body["id"])
    assert result["state"] == "done" and result["ready"] is True
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (20, 0, 0)
    assert result["expected_files"] == result["processed"] == 20
    assert all(line["outcome"] == "accepted" and line["reason"] == "" for line in result["files"])
    [series_json] = result["series"]
    assert series_json["mrcp"] is True and series_json["instances"] == 20 and series_json["render_state"] == "done"
    series = Series.objects.get(pk=series_json["id"])
    assert series.study.donor == donor and series.orientation == "coronal"
    assert series.slice_spacing == pytest.approx(1.5)
    assert series.mip_shape == [96, 96] and series.mip_path and series.thumbnail_path and series.mip_data_path
    by_slice = list(series.instances.order_by("slice_index").values_list("sop_instance_uid", flat=True))
    assert by_slice == list(series_files.sop_instance_uids)  # ordered along the normal, not by arrival
    assert not series.study.identity_warning
    # Files live under the donor's folder; the raw uploads were kept as the instances' files.
    assert all(path.startswith(f"imaging/donor-{donor.pk}/") for path in stored_files(media))
    assert Instance.objects.filter(series=series).count() == 20
    assert all(default_storage.exists(i.file) for i in series.instances.all())
    event = AuditEvent.objects.filter(record_type="imaging.Upload", kind="create", channel="worker").get()
    assert "20 accepted" in event.summary and event.donor_id == donor.pk


def test_a_zip_upload_reports_each_member(
    client, donor, tmp_path, media, eager_tasks, django_capture_on_commit_callbacks
):
    series_files = phantom(tmp_path / "s", donor=donor, slices=8)
    archive = write_zip(series_files.paths, tmp_path / "mrcp.zip")
    body = upload(client, donor, as_uploads([archive]), django_capture_on_commit_callbacks)
    result = report(client, body["id"])
    assert result["accepted"] == 8 and result["expected_files"] == 8
    assert sorted(lines(result)) == [f"mrcp.zip/MRCP/IM{n:04d}.dcm" for n in range(1, 9)]
    # The zip itself is not kept once read.
    assert not [p for p in stored_files(media) if p.endswith(".zip")]
    assert not UploadSource.objects.filter(upload_id=body["id"], done=False).exists()


@pytest.mark.parametrize("variant", MR_VARIANTS)
def test_every_mr_small_variant_is_accepted(
    variant, client, centre, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    donor = DonorFactory(centre=centre, mrn="4MR1", given_name="MR1", family_name="CompressedSamples")
    body = upload(client, donor, as_uploads([shipped(variant)]), django_capture_on_commit_callbacks)
    result = report(client, body["id"])
    assert lines(result)[variant]["outcome"] == "accepted", result["files"]
    series = Series.objects.get(study__donor=donor)
    assert series.instance_count == 1 and series.render_state == "done" and series.thumbnail_path
    assert not series.study.identity_warning  # MRN 4MR1, name CompressedSamples^MR1 match the donor


def test_real_files_in_one_upload_duplicates_truncation_and_missing_header(
    client, donor, eager_tasks, django_capture_on_commit_callbacks
):
    files = as_uploads(
        [shipped(v) for v in MR_VARIANTS]
        + [shipped("MR_truncated.dcm"), shipped("no_meta.dcm"), shipped("ExplVR_LitEndNoMeta.dcm")]
    )
    body = upload(client, donor, files, django_capture_on_commit_callbacks)
    result = lines(report(client, body["id"]))
    assert result["MR_small.dcm"]["outcome"] == "accepted"
    # The variants are the same instance (same SOP Instance UID) in other encodings.
    assert {result[v]["outcome"] for v in MR_VARIANTS[1:]} == {"duplicate"}
    assert result["MR_truncated.dcm"] == result["MR_truncated.dcm"] | {
        "outcome": "rejected",
        "reason": "file is truncated",
    }
    assert result["no_meta.dcm"]["reason"].startswith("not a DICOM file")
    assert result["ExplVR_LitEndNoMeta.dcm"]["reason"] == (
        "not a DICOM file: it has no DICOM file header (preamble and 'DICM' marker); "
        "export the images again as standard DICOM files"
    )
    assert Instance.objects.filter(donor=donor).count() == 1


def test_bad_files_are_rejected_with_reasons_and_the_rest_proceeds(
    client, donor, tmp_path, media, settings, eager_tasks, django_capture_on_commit_callbacks
):
    good = phantom(tmp_path / "s", donor=donor, slices=4)

    def drop(keyword):
        return lambda ds: delattr(ds, keyword)

    def short_pixels(ds):
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]

    def as_ct(ds):
        ds.Modality = "CT"
        ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
        ds.SeriesInstanceUID = ds.SeriesInstanceUID + ".7"

    files = as_uploads(good.paths) + [
        named("report.pdf", b"%PDF-1.7\n" + b"x" * 400),
        named("no-study.dcm", rewritten("MR_small.dcm", drop("StudyInstanceUID"))),
        named("no-sop.dcm", rewritten("MR_small.dcm", drop("SOPInstanceUID"))),
        named("short-pixels.dcm", rewritten("MR_small.dcm", short_pixels)),
        named("ct.dcm", rewritten("MR_small.dcm", as_ct)),
    ]
    body = upload(client, donor, files, django_capture_on_commit_callbacks)
    result = report(client, body["id"])
    by_name = lines(result)
    assert by_name["report.pdf"]["reason"] == "not a DICOM file"
    assert by_name["no-study.dcm"]["reason"] == "missing Study Instance UID"
    assert by_name["no-sop.dcm"]["reason"] == "missing SOP Instance UID"
    assert by_name["short-pixels.dcm"]["reason"].startswith("pixel data does not match its header")
    assert by_name["ct.dcm"]["outcome"] == "accepted"
    assert "modality CT is not MR: kept, never used as MRCP" in by_name["ct.dcm"]["warnings"]
    assert (result["accepted"], result["rejected"]) == (5, 4)
    ct = Series.objects.get(modality="CT")
    assert ct.used_as_mrcp is False and not ct.mip_path
    # Nothing of a rejected file is kept: only the accepted instances' files remain.
    kept = set(stored_files(media))
    assert {i.file for i in Instance.objects.all()} <= kept
    assert len([p for p in kept if p.endswith(".dcm")]) == 5
    # A CT series can never be called MRCP, even by a radiologist.
    response = client.post(f"/api/v1/series/{ct.pk}/mrcp/", {"mrcp": True}, format="json")
    assert response.status_code == 400 and "cannot be used as MRCP" in response.json()["error"]["message"]


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_path_traversal_and_zip_bombs_are_refused(
    client, donor, tmp_path, media, eager_tasks, django_capture_on_commit_callbacks
):
    good = phantom(tmp_path / "s", donor=donor, slices=2)
    archive = _zip(
        {
            "ok/IM1.dcm": good.paths[0].read_bytes(),
            "../../etc/evil.dcm": good.paths[1].read_bytes(),
            "/abs.dcm": b"x",
            "bomb.dcm": b"\0" * (8 * 1024 * 1024),  # compresses about 1000:1
        }
    )
    body = upload(client, donor, [named("export.zip", archive)], django_capture_on_commit_callbacks)
    by_name = lines(report(client, body["id"]))
    assert by_name["export.zip/ok/IM1.dcm"]["outcome"] == "accepted"
    assert by_name["export.zip/../../etc/evil.dcm"]["reason"] == "refused: path leaves the folder ('..')"
    assert by_name["export.zip//abs.dcm"]["reason"] == "refused: absolute path"
    assert by_name["export.zip/bomb.dcm"]["reason"].startswith("refused: compression ratio above 200")
    assert not any("evil" in p or "etc" in p for p in stored_files(media))
    assert not (media.parent / "etc").exists()


def test_limits_on_files_and_bytes(client, donor, tmp_path, settings, eager_tasks, django_capture_on_commit_callbacks):
    good = phantom(tmp_path / "s", donor=donor, slices=5)
    size = good.paths[0].stat().st_size
    settings.DICOM_MAX_FILES = 3
    body = upload(client, donor, as_uploads(good.paths), django_capture_on_commit_callbacks)
    result = report(client, body["id"])
    assert result["accepted"] == 3 and result["rejected"] == 2
    assert lines(result)["IM0005.dcm"]["reason"] == "not read: the upload has more than 3 files"

    settings.DICOM_MAX_FILES = 100
    settings.DICOM_MAX_FILE_BYTES = size - 1
    other = DonorFactory(centre=donor.centre)  # a new donor needs a new study: a study belongs to one donor
    fresh = phantom(tmp_path / "t", donor=other, slices=3)
    result = report(
        client, upload(client, other, as_uploads(fresh.paths[:1]), django_capture_on_commit_callbacks)["id"]
    )
    fresh_size = fresh.paths[0].stat().st_size
    assert lines(result)["IM0001.dcm"]["reason"] == f"file too large ({fresh_size} bytes; the limit is {size - 1})"

    settings.DICOM_MAX_FILE_BYTES = 10 * size
    settings.DICOM_MAX_UPLOAD_BYTES = 2 * fresh_size + 10
    result = report(client, upload(client, other, as_uploads(fresh.paths), django_capture_on_commit_callbacks)["id"])
    assert {name: line["outcome"] for name, line in lines(result).items()} == {
        "IM0001.dcm": "accepted",
        "IM0002.dcm": "accepted",
        "IM0003.dcm": "rejected",
    }
    assert lines(result)["IM0003.dcm"]["reason"] == f"not read: the upload is larger than {2 * fresh_size + 10} bytes"
    # A zip whose directory says it expands past the upload limit is refused as a whole.
    archive = write_zip(good.paths, tmp_path / "big.zip")
    limit = archive.stat().st_size + 10
    assert limit < 5 * size
    settings.DICOM_MAX_UPLOAD_BYTES = limit
    result = report(client, upload(client, donor, as_uploads([archive]), django_capture_on_commit_callbacks)["id"])
    assert [(line["name"], line["outcome"]) for line in result["files"]] == [("big.zip", "rejected")]
    assert lines(result)["big.zip"]["reason"] == (
        f"zip archive refused: it expands to {sum(p.stat().st_size for p in good.paths)} bytes, more than the {limit} "
        "left in this upload"
    )


def test_a_request_with_more_files_than_django_accepts_gets_a_clear_answer(client, donor, tmp_path, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = as_uploads(phantom(tmp_path / "s", slices=3, size=16).paths)
    response = client.post("/api/v1/uploads/", {"donor": donor.pk, "files": files}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("files: too many files in one request (at most 2)")
    assert not Upload.objects.exists()


def test_upload_to_another_centres_donor_is_refused_and_audited(client, foreign_donor, tmp_path, media, radiologist):
    files = as_uploads(phantom(tmp_path / "s", slices=2).paths)
    response = client.post("/api/v1/uploads/", {"donor": foreign_donor.pk, "files": files}, format="multipart")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not Upload.objects.exists() and stored_files(media) == []
    assert AuditEvent.objects.filter(kind="denied", user=radiologist, record_id=str(foreign_donor.pk)).exists()


def test_uploading_the_same_files_again_adds_nothing(
    client, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    series_files = phantom(tmp_path / "s", donor=donor, slices=6)
    upload(client, donor, as_uploads(series_files.paths), django_capture_on_commit_callbacks)
    counts = (Study.objects.count(), Series.objects.count(), Instance.objects.count())
    mip_before = Series.objects.get().mip_path
    again = report(
        client, upload(client, donor, as_uploads(series_files.paths), django_capture_on_commit_callbacks)["id"]
    )
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 6, 0)
    assert {line["reason"] for line in again["files"]} == {"already stored (same SOP Instance UID)"}
    assert (Study.objects.count(), Series.objects.count(), Instance.objects.count()) == counts
    assert again["series"][0]["instances"] == 6 and Series.objects.get().mip_path == mip_before


def test_instances_another_upload_stored_meanwhile_become_duplicates_and_the_order_holds(
    donor, radiologist, tmp_path, media, monkeypatch
):
    series_files = phantom(tmp_path / "s", donor=donor, slices=8)
    files = [services.Incoming(p.name, p.stat().st_size, p) for p in series_files.paths]
    monkeypatch.setattr(services, "queue_ingest", lambda upload_id: None)
    created = services.create_upload(actor=Actor(user=radiologist), donor=donor, files=files)
    taken = read_header(series_files.paths[3], name="other.dcm")
    original = ingest.IngestRun._flush

    def racing(self):
        # Between reading and writing, another upload stores slice 3 of the same series.
        series = Series.objects.get(series_instance_uid=series_files.series_uid)
        Instance.objects.create(
            series=series,
            donor=donor,
            sop_instance_uid=taken.sop_instance_uid,
            rows=taken.rows,
            columns=taken.columns,
            position=list(taken.image_position),
            orientation=list(taken.image_orientation),
            pixel_spacing=list(taken.pixel_spacing),
            file="elsewhere/other.dcm",
        )
        return original(self)

    monkeypatch.setattr(ingest.IngestRun, "_flush", racing)
    assert jobs.ingest_upload(upload_id=created.pk) == ingest.DONE
    done = Upload.objects.get(pk=created.pk)
    assert (done.accepted, done.duplicates, done.rejected) == (7, 1, 0)
    line = UploadFile.objects.get(upload=done, sop_instance_uid=taken.sop_instance_uid)
    assert (line.outcome, line.reason) == ("duplicate", "already stored (same SOP Instance UID)")
    series = Series.objects.get()
    assert series.instance_count == 8 and series.render_state == "done"
    ordered = list(series.instances.order_by("slice_index").values_list("slice_index", "sop_instance_uid"))
    assert [index for index, _ in ordered] == list(range(8))
    assert [uid for _, uid in ordered] == list(series_files.sop_instance_uids)
    # The duplicate's raw file was not kept: the other upload's instance is the stored one.
    assert not default_storage.exists(UploadSource.objects.get(upload=done, index=3).path)


class Crash(BaseException):
    """Stands for a worker dying mid-import."""


@pytest.mark.parametrize("packed", [False, True], ids=["files", "zip"])
def test_an_import_that_dies_midway_resumes_with_a_correct_report(
    packed, donor, radiologist, tmp_path, media, monkeypatch, settings
):
    series_files = phantom(tmp_path / "s", donor=donor, slices=17)
    if packed:
        archive = write_zip(series_files.paths, tmp_path / "mrcp.zip", folder="")
        files = [services.Incoming("mrcp.zip", archive.stat().st_size, archive)]
    else:
        files = [services.Incoming(p.name, p.stat().st_size, p) for p in series_files.paths]
    files.append(services.Incoming("notes.txt", 5, _text_file(tmp_path)))
    monkeypatch.setattr(services, "queue_ingest", lambda upload_id: None)
    created = services.create_upload(actor=Actor(user=radiologist), donor=donor, files=files)
    settings.DICOM_INGEST_BATCH_FILES = 5
    original = ingest.IngestRun._ingest
    seen = []

    def dying(self, item):
        seen.append(item.name)
        if len(seen) == 13:
            raise Crash()
        return original(self, item)

    monkeypatch.setattr(ingest.IngestRun, "_ingest", dying)
    with pytest.raises(Crash):
        jobs.ingest_upload(upload_id=created.pk)
    upload_row = Upload.objects.get(pk=created.pk)
    assert upload_row.state == "processing"
    committed = UploadFile.objects.filter(upload=upload_row).count()
    assert 0 < committed < 13  # whole batches committed; the batch in flight rolled back
    assert Instance.objects.count() == committed
    # A worker killed outright keeps its lease until it runs out; meanwhile a redelivery waits.
    Upload.objects.filter(pk=created.pk).update(lease_until=timezone.now() + timedelta(seconds=60))
    assert jobs.ingest_upload(upload_id=created.pk) == ingest.BUSY
    Upload.objects.filter(pk=created.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr(ingest.IngestRun, "_ingest", original)
    assert jobs.ingest_upload(upload_id=created.pk) == ingest.DONE
    upload_row.refresh_from_db()
    assert (upload_row.state, upload_row.accepted, upload_row.duplicates, upload_row.rejected) == ("done", 17, 0, 1)
    assert upload_row.attempts == 2
    names = list(UploadFile.objects.filter(upload=upload_row).values_list("name", flat=True))
    prefix = "mrcp.zip/" if packed else ""
    assert sorted(names) == sorted([prefix + p.name for p in series_files.paths] + ["notes.txt"])  # one line each
    assert Instance.objects.count() == 17
    series = Series.objects.get()
    assert series.instance_count == 17 and series.render_state == "done"
    assert list(series.instances.order_by("slice_index").values_list("sop_instance_uid", flat=True)) == list(
        series_files.sop_instance_uids
    )
    # Every stored file is an instance's: the raw files of the crashed batch were not left behind.
    assert set(stored_files(media)) == {i.file for i in Instance.objects.all()} | {
        series.mip_path,
        series.mip_data_path,
        series.thumbnail_path,
    }
    # A second delivery of the finished upload does nothing.
    assert jobs.ingest_upload(upload_id=created.pk) == ingest.FINISHED
    assert UploadFile.objects.filter(upload=upload_row).count() == 18


def _text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("notes")
    return path


def test_identity_warning_must_be_confirmed_by_a_radiologist(
    client, api_as, donor, tmp_path, make_user, eager_tasks, django_capture_on_commit_callbacks
):
    series_files = phantom(tmp_path / "s", slices=6, patient_id="OTHER-99", patient_name="Somebody^Else")
    upload(client, donor, as_uploads(series_files.paths), django_capture_on_commit_callbacks)
    study = Study.objects.get()
    assert "patient ID in the files is 'OTHER-99'" in study.identity_warning
    assert "patient name in the files is 'Else Somebody'" in study.identity_warning
    assert study.identity_open and study.identity_state == "unresolved" and study.centre == donor.centre
    event = AuditEvent.objects.get(record_type="imaging.Upload", channel="worker")
    assert "identity warning" in event.summary
    series = Series.objects.get()
    point = {"slice": 2, "row": 40, "col": 40}
    refused = client.post(
        f"/api/v1/donors/{donor.pk}/measurements/",
        {"series": series.pk, "kind": "slices", "points": [point, point | {"col": 50}]},
        format="json",
    )
    assert refused.status_code == 409 and "identity" in refused.json()["error"]["message"]
    url = f"/api/v1/studies/{study.pk}/confirm/"
    assert api_as(make_user("integration_client")).post(url, {"reason": "x"}, format="json").status_code == 403
    assert api_as(make_user("coordinator")).post(url, {"reason": "x"}, format="json").status_code == 403
    no_reason = client.post(url, {"reason": "  "}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]
    response = client.post(url, {"reason": "checked with the hospital's PACS"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["identity_open"] is False and body["identity_state"] == "confirmed"
    assert body["identity_reason"] == "checked with the hospital's PACS"
    assert client.post(url, {"reason": "again"}, format="json").status_code == 409
    event = AuditEvent.objects.get(record_type="imaging.Study", kind="update")
    assert event.changes["reason"] == "checked with the hospital's PACS" and event.donor_id == donor.pk
    assert study.history.count() == 3  # created, warned, confirmed
    accepted = client.post(
        f"/api/v1/donors/{donor.pk}/measurements/",
        {"series": series.pk, "kind": "slices", "points": [point, point | {"col": 50}]},
        format="json",
    )
    assert accepted.status_code == 201


def test_confirming_on_the_donor_page(
    client, donor, tmp_path, make_user, eager_tasks, django_capture_on_commit_callbacks
):
    from django.test import Client

    upload(
        client,
        donor,
        as_uploads(phantom(tmp_path / "s", slices=3, patient_id="X1").paths),
        django_capture_on_commit_callbacks,
    )
    study = Study.objects.get()
    page = Client()
    page.force_login(make_user("radiologist"))
    html = page.get(f"/donors/{donor.pk}/").content.decode()
    assert "Check the patient's identity" in html and "This is the donor's study" in html
    assert "Not the donor's: detach" in html
    assert "patient ID in the files is &#x27;X1&#x27;" in html
    coordinator = Client()
    coordinator.force_login(make_user("coordinator"))
    seen_by_coordinator = coordinator.get(f"/donors/{donor.pk}/").content.decode()
    assert "Check the patient's identity" in seen_by_coordinator  # told, but only a radiologist resolves it
    assert "confirm-identity" not in seen_by_coordinator and "detach-study" not in seen_by_coordinator
    refused = page.post(f"/imaging/studies/{study.pk}/confirm/", {"next": f"/donors/{donor.pk}/"})
    assert refused.status_code == 400 and "reason" in refused.content.decode()
    response = page.post(
        f"/imaging/studies/{study.pk}/confirm/", {"next": f"/donors/{donor.pk}/", "reason": "same person, old MRN"}
    )
    assert response.status_code == 302 and response["Location"] == f"/donors/{donor.pk}/"
    study.refresh_from_db()
    assert not study.identity_open and study.identity_reason == "same person, old MRN"


def test_import_command_prints_the_report_as_json(donor, tmp_path, media, capsys):
    series_files = phantom(tmp_path / "s", donor=donor, slices=5)
    (tmp_path / "s" / "readme.txt").write_text("not an image")
    call_command("import_dicom", str(tmp_path / "s"), "--donor", donor.code, "--centre", donor.centre.code, "--json")
    first = json.loads(capsys.readouterr().out)
    assert first == {
        "accepted": 5,
        "duplicates": 0,
        "rejected": [{"file": "readme.txt", "reason": "not a DICOM file"}],
        "series": [{"series_uid": series_files.series_uid, "description": "MRCP 3D", "instances": 5, "mrcp": True}],
    }
    archive = write_zip(series_files.paths, tmp_path / "again.zip")
    call_command("import_dicom", str(archive), "--donor", donor.code, "--json")
    second = json.loads(capsys.readouterr().out)
    assert (second["accepted"], second["duplicates"], second["rejected"]) == (0, 5, [])
    assert AuditEvent.objects.filter(record_type="imaging.Upload", channel="command").count() == 4


def test_mip_pixels_match_a_plain_numpy_projection(
    client, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    import pydicom

    from imaging.rendering import load_mip_data

    series_files = phantom(tmp_path / "s", donor=donor, slices=10)
    upload(client, donor, as_uploads(series_files.paths), django_capture_on_commit_callbacks)
    expected = np.max([pydicom.dcmread(p).pixel_array.astype(np.float32) for p in series_files.paths], axis=0)
    data = load_mip_data(Series.objects.get())
    # Coronal slices, rows head to feet, columns patient right to left: no turn needed.
    assert np.array_equal(data["image"], expected)


def test_demo_seeder_is_idempotent(settings, tmp_path):
    from donors.demo import seed_demo_centre
    from reports.demo import seed_imaging

    centre, users = seed_demo_centre()
    first = seed_imaging(centre=centre, users=users)
    assert first.startswith("MRCP phantoms: DEMO-001, DEMO-002, DEMO-003")
    counts = (Study.objects.count(), Instance.objects.count())
    assert seed_imaging(centre=centre, users=users) == "MRCP phantoms: already present"
    assert (Study.objects.count(), Instance.objects.count()) == counts
    assert Series.objects.filter(render_state="done", mip_path__gt="").count() == 4


def test_a_series_sent_in_two_uploads_is_one_series_projected_from_all_slices(
    client, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    import pydicom

    from imaging.rendering import load_mip_data

    series_files = phantom(tmp_path / "s", donor=donor, slices=12)
    paths = list(series_files.paths)
    upload(client, donor, as_uploads(paths[::2]), django_capture_on_commit_callbacks)
    assert Series.objects.get().instance_count == 6
    second = report(client, upload(client, donor, as_uploads(paths), django_capture_on_commit_callbacks)["id"])
    assert (second["accepted"], second["duplicates"]) == (6, 6)
    series = Series.objects.get()
    assert series.instance_count == 12 and series.rendered_instances == 12 and series.render_state == "done"
    assert list(series.instances.order_by("slice_index").values_list("sop_instance_uid", flat=True)) == list(
        series_files.sop_instance_uids
    )
    expected = np.max([pydicom.dcmread(p).pixel_array.astype(np.float32) for p in paths], axis=0)
    data = load_mip_data(series)
    assert np.array_equal(data["image"], expected)
    # Each MIP pixel points back at the slice (in the series' order) its maximum came from.
    volume = np.stack([pydicom.dcmread(p).pixel_array for p in paths])
    assert np.array_equal(np.take_along_axis(volume, data["slice_index"][None], 0)[0], expected.astype(volume.dtype))
