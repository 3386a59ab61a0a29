"""`manage.py export_sr`: the SR of a donor's final anatomy, read on an uploaded MRCP, with the RHD
length measured in the viewer; the read is audited; a draft or missing anatomy is refused clearly."""

from __future__ import annotations

import highdicom as hd
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from classification import services as anatomy_services
from classification.models import Annotation
from classification.presets import preset_document
from core.audit import Actor
from core.models import AuditEvent
from imaging.models import Instance, Measurement, Series, Study
from reports.dicom_sr import document_from_sr, measured_points_from_sr
from reports.selectors import anatomy_sr
from tests.integration.imaging_support import as_uploads, phantom, upload
from tests.integration.test_imaging_measure import click

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users


@pytest.fixture
def radiologist(make_user):
    return make_user("radiologist", first_name="Ayşe", last_name="Yılmaz")


@pytest.fixture
def read_mrcp(api_as, radiologist, donor, tmp_path, eager_tasks, django_capture_on_commit_callbacks):
    """The donor's MRCP uploaded, the RHD measured in the viewer and the anatomy recorded on that
    series with the measured length, classified (not yet final)."""
    client = api_as(radiologist)
    truth = phantom(tmp_path / "series", donor=donor, slices=30, size=128)
    upload(client, donor, as_uploads(truth.paths), django_capture_on_commit_callbacks)
    series = Series.objects.get(study__donor=donor)
    rhd = truth.ducts["RHD"]
    response = client.post(
        f"/api/v1/donors/{donor.pk}/measurements/",
        {"series": series.pk, "kind": "slices", "points": [click(series, rhd.start), click(series, rhd.end)]}
        | {"label": "RHD"},
        format="json",
    )
    assert response.status_code == 201, response.content
    measurement = Measurement.objects.get(pk=response.json()["id"])
    document = preset_document("typical_right_lobe")
    for duct in document["ducts"]:
        if duct["id"] == "RHD":
            duct["length_mm"] = round(measurement.length_mm, 1)  # as "Use as length" fills it in
    actor = Actor(user=radiologist)
    with django_capture_on_commit_callbacks(execute=True):
        annotation = anatomy_services.save_annotation(actor=actor, donor=donor, document=document, series_id=series.pk)
    annotation.refresh_from_db()
    assert annotation.classification == Annotation.Classification.DONE
    return annotation, series, measurement, actor


def finalise(annotation, actor):
    return anatomy_services.finalise_annotation(actor=actor, annotation=annotation, expected_version=None)


def test_export_sr_writes_the_final_anatomy_read_on_the_mrcp(
    read_mrcp, donor, radiologist, tmp_path, capsys, django_capture_on_commit_callbacks
):
    annotation, series, measurement, actor = read_mrcp
    annotation = finalise(annotation, actor)
    out = tmp_path / "anatomy.dcm"
    call_command("export_sr", donor=donor.code, out=str(out))
    assert "wrote" in capsys.readouterr().out

    sr = pydicom.dcmread(out)
    assert sr.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert (sr.SeriesNumber, sr.InstanceNumber) == (900, annotation.revision)
    assert document_from_sr(sr) == annotation.document
    # The length that came from the viewer carries the measurement's two points (Graphic Data is
    # single precision: well under a micrometre here).
    points = measured_points_from_sr(sr)
    assert set(points) == {"RHD"}
    assert [pytest.approx(p, abs=1e-4) for p in measurement.patient_points] == points["RHD"]
    instances = list(Instance.objects.filter(series=series).order_by("slice_index"))
    with default_storage.open(instances[0].file, "rb") as handle:
        first = pydicom.dcmread(handle, stop_before_pixels=True)
    scoord = next(
        item
        for group in sr.ContentSequence[-1].ContentSequence
        for item in _walk(group)
        if item.ValueType == "SCOORD3D"
    )
    assert scoord.ReferencedFrameOfReferenceUID == first.FrameOfReferenceUID
    # In the MRCP study, with the patient as its files name them, citing every stored instance.
    assert sr.StudyInstanceUID == series.study.study_instance_uid
    assert (sr.PatientID, str(sr.PatientName)) == (donor.mrn, f"{donor.family_name}^{donor.given_name}")
    cited = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert cited.SeriesInstanceUID == series.series_instance_uid
    assert [i.ReferencedSOPInstanceUID for i in cited.ReferencedSOPSequence] == [i.sop_instance_uid for i in instances]
    # The radiologist who made it final observed and verified it.
    assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == "Yılmaz^Ayşe"
    assert sr.VerifyingObserverSequence[0].VerifyingOrganization == donor.centre.name
    report = hd.sr.Comprehensive3DSR.from_dataset(sr).content
    assert str(report.get_observer_contexts()[0].observer_identifying_attributes.name) == "Yılmaz^Ayşe"
    # The read is in the donor's audit trail.
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.READ, record_type="classification.Annotation")
    assert (event.donor_id, event.channel, event.record_id) == (donor.pk, "command", str(annotation.pk))
    assert "structured report" in event.summary and "anatomy.dcm" in event.summary

    # The same revision gives the same instance; a new revision a new one, in the same series.
    assert anatomy_sr(Annotation.objects.get(pk=annotation.pk)).SOPInstanceUID == sr.SOPInstanceUID
    changed = dict(annotation.document, notes="LHD remeasured")
    with django_capture_on_commit_callbacks(execute=True):
        revised = anatomy_services.save_annotation(
            actor=actor, donor=donor, document=changed, expected_version=annotation.version
        )
    revised = finalise(Annotation.objects.get(pk=revised.pk), actor)
    again = anatomy_sr(Annotation.objects.get(pk=revised.pk))
    assert again.SOPInstanceUID != sr.SOPInstanceUID and again.SeriesInstanceUID == sr.SeriesInstanceUID
    assert again.InstanceNumber == 2 and document_from_sr(again)["notes"] == "LHD remeasured"


def test_no_sr_while_the_mrcp_may_not_be_the_donors(read_mrcp, donor, tmp_path):
    """New files put the study's identity in doubt after the anatomy was made final: the SR, which
    takes the patient from those files, waits for the radiologist."""
    annotation, series, _, actor = read_mrcp
    finalise(annotation, actor)
    Study.objects.filter(pk=series.study_id).update(identity_state=Study.Identity.UNRESOLVED)
    out = tmp_path / "anatomy.dcm"
    with pytest.raises(CommandError, match="may not be the donor's"):
        call_command("export_sr", donor=donor.code, out=str(out))
    assert not out.exists()


def test_a_draft_anatomy_is_refused_and_nothing_written(read_mrcp, donor, tmp_path):
    out = tmp_path / "anatomy.dcm"
    with pytest.raises(CommandError, match="draft"):
        call_command("export_sr", donor=donor.code, out=str(out))
    assert not out.exists()
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.READ, record_type="classification.Annotation").exists()


def test_a_donor_without_anatomy_or_unknown_is_refused(donor, tmp_path):
    out = tmp_path / "anatomy.dcm"
    with pytest.raises(CommandError, match="no biliary anatomy"):
        call_command("export_sr", donor=donor.code, out=str(out))
    with pytest.raises(CommandError, match="no donor 'NOPE-1'"):
        call_command("export_sr", donor="NOPE-1", out=str(out))
    with pytest.raises(CommandError, match="--out"):
        call_command("export_sr", donor=donor.code, out=str(tmp_path / "missing" / "a.dcm"))
    assert not out.exists()


def _walk(item):
    for child in item.get("ContentSequence", []):
        yield child
        yield from _walk(child)
