"""What the reports worker does: the services its tasks call.

Apart from services.py, which queues these jobs, so that services -> tasks -> jobs runs one way."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pydicom
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

from classification.models import Annotation
from core.audit import record_event
from core.errors import IllegalState
from core.models import AuditEvent
from core.text import counted
from imaging.selectors import mrcp_mip_series

from .dicom_pdf import Patient, encapsulated_pdf, identity_of, own_study_identity
from .dicom_sr import derived_uid
from .models import PacsSend, ReportVersion
from .selectors import anatomy_sr, stored_mip


def render_pdf(*, version_id: int) -> bool:
    """Render the version's PDF from its frozen content. Idempotent: the row is locked and a
    version whose PDF is ready is left alone. True when a PDF was stored by this call."""
    from . import pdf

    with transaction.atomic():
        _bounded_lock_wait()
        version = ReportVersion.objects.select_for_update().select_related("donor").get(pk=version_id)
        if version.pdf_state == ReportVersion.PdfState.READY:
            return False
        data = pdf.render_report_pdf(version.content, mip_png=stored_mip(version))
        name = f"reports/donor-{version.donor_id}/report-{version.number}.pdf"
        if default_storage.exists(name):  # left by an attempt that died before committing
            default_storage.delete(name)
        version.pdf.name = default_storage.save(name, ContentFile(data))
        version.pdf_sha256 = hashlib.sha256(data).hexdigest()
        version.pdf_state = ReportVersion.PdfState.READY
        version.pdf_error = ""
        version.pdf_attempts += 1
        version.pdf_rendered_at = timezone.now()
        version.save(update_fields=["pdf", "pdf_sha256", "pdf_state", "pdf_error", "pdf_attempts", "pdf_rendered_at"])
        record_event(
            actor=None,
            kind=AuditEvent.Kind.CREATE,
            record_type="reports.ReportVersion.pdf",
            record_id=version.pk,
            donor=version.donor,
            channel="worker",
            summary=f"rendered the PDF of suitability report version {version.number} ({len(data)} bytes)",
            changes={"pdf_sha256": version.pdf_sha256},
        )
        return True


def record_pdf_failure(*, version_id: int, reason: str) -> None:
    """A render that gave up leaves its reason on the version (the content stays as issued)."""
    with transaction.atomic():
        version = ReportVersion.objects.select_for_update().get(pk=version_id)
        if version.pdf_state == ReportVersion.PdfState.READY:
            return
        version.pdf_state = ReportVersion.PdfState.FAILED
        version.pdf_error = reason[:300]
        version.pdf_attempts += 1
        version.save(update_fields=["pdf_state", "pdf_error", "pdf_attempts"])


def _bounded_lock_wait() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '10s'")


# ---------------------------------------------------------------- sending to PACS


class PacsUnavailable(Exception):
    """A failure worth another try: no connection, a transient refusal, an abort or a timeout."""


class PacsRefused(Exception):
    """A failure another try would repeat: a permanent refusal, or a store the PACS answered with an error."""


@dataclass
class ReportInstances:
    datasets: list[tuple[str, Dataset]]  # (what, instance): the SR first, then the PDF it names
    study_uid: str
    note: str = ""


def _first_header(series) -> Dataset | None:
    instance = series.instances.order_by("slice_index", "pk").first() if series is not None else None
    if instance is None:
        return None
    with default_storage.open(instance.file, "rb") as handle:
        return pydicom.dcmread(handle, stop_before_pixels=True)


def _anatomy_sr(version: ReportVersion) -> tuple[Dataset | None, str]:
    """The SR of the anatomy the version was issued on, or None and why not."""
    annotation = Annotation.objects.select_related("donor__centre").filter(donor=version.donor).first()
    if annotation is None or annotation.revision != version.annotation_revision:
        return None, (
            f"the biliary anatomy has changed since report version {version.number} was issued "
            f"(revision {version.annotation_revision}): its structured report was not sent"
        )
    try:
        return anatomy_sr(annotation), ""
    except IllegalState as refused:
        return None, f"the structured report was not sent: {refused.message}"


def report_instances(version: ReportVersion) -> ReportInstances:
    """What a send stores in PACS for an issued version: the anatomy's SR (when it matches the version)
    and the PDF as an Encapsulated PDF instance in the same study; the donor's MRCP study, or a study of
    its own when the donor has none."""
    donor = version.donor
    if version.pdf_state != ReportVersion.PdfState.READY:
        raise PacsRefused(f"the PDF of report version {version.number} is not ready")
    with version.pdf.open("rb") as handle:
        pdf = handle.read()
    sr, note = _anatomy_sr(version)
    if sr is not None:
        identity = identity_of(sr)
    else:
        study_uid = Annotation.objects.filter(donor=donor).values_list("study_uid", flat=True).first() or ""
        header = _first_header(mrcp_mip_series(donor=donor, study_uid=study_uid))
        identity = (
            identity_of(header)
            if header is not None
            else own_study_identity(
                Patient(donor.mrn, donor.family_name, donor.given_name, donor.date_of_birth, _dicom_sex(donor.sex)),
                study_uid=derived_uid("report-study", str(donor.centre_id), str(donor.pk)),
                when=version.issued_at,
                description="Living donor liver workup",
            )
        )
    instance = encapsulated_pdf(
        pdf,
        identity=identity,
        title=f"Living donor suitability report, version {version.number}",
        issued_at=version.issued_at,
        instance_key=f"{donor.centre_id}/{donor.pk}/{version.number}/{version.pdf_sha256}",
        instance_number=version.number,
        institution=donor.centre.name,
        source_sr=sr,
    )
    datasets = [("structured report", sr)] if sr is not None else []
    datasets.append(("PDF", instance))
    return ReportInstances(datasets=datasets, study_uid=str(identity.StudyInstanceUID), note=note)


def anatomy_instances(send: PacsSend) -> ReportInstances:
    """What a send of the anatomy alone stores in PACS: its SR, in the donor's MRCP study, of the revision
    that was asked (a later revision is a send of its own)."""
    annotation = (
        Annotation.objects.select_related("donor__centre", "finalised_by", "updated_by").filter(pacs_sends=send).get()
    )
    if annotation.revision != send.annotation_revision or annotation.state != Annotation.State.FINAL:
        raise PacsRefused(
            f"the biliary anatomy changed after the send was asked (revision {send.annotation_revision}, now "
            f"revision {annotation.revision}, {annotation.get_state_display().lower()}): send the final one again"
        )
    try:
        sr = anatomy_sr(annotation)
    except IllegalState as refused:
        raise PacsRefused(f"the structured report was not sent: {refused.message}") from refused
    return ReportInstances(datasets=[("structured report", sr)], study_uid=str(sr.StudyInstanceUID))


def _dicom_sex(sex: str) -> str:
    return {"male": "M", "female": "F"}.get(sex, "O")


def _with_file_meta(ds: Dataset) -> Dataset:
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", Dataset()):
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def store_in_pacs(datasets: list[tuple[str, Dataset]], *, ae_title: str, host: str, port: int) -> None:
    """C-STORE each dataset in one association. PacsUnavailable for what may pass, PacsRefused otherwise."""
    ae = AE(ae_title=settings.DICOM_AE_TITLE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.PACS_TIMEOUT_SECONDS
    for sop_class in sorted({str(ds.SOPClassUID) for _, ds in datasets}):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = ae.associate(host, port, ae_title=ae_title)
    if not assoc.is_established:
        where = f"{ae_title} at {host}:{port}"
        if assoc.is_rejected:
            answer = assoc.acceptor.primitive
            reason = f"{answer.result_str}: {answer.reason_str}" if answer is not None else "rejected"
            if answer is not None and answer.result == 0x02:
                raise PacsUnavailable(f"{where} refused the association for now ({reason})")
            raise PacsRefused(f"{where} refused the association ({reason}): check the PACS destination")
        raise PacsUnavailable(f"could not associate with {where} (no answer, connection refused or aborted)")
    try:
        for what, ds in datasets:
            status = assoc.send_c_store(_with_file_meta(ds))
            if "Status" not in status:  # no answer: aborted, or timed out
                raise PacsUnavailable(f"the PACS did not answer the C-STORE of the {what} (aborted or timed out)")
            if status.Status not in (0x0000, 0xB000, 0xB007, 0xB006):
                comment = status.get("ErrorComment", "")
                raise PacsRefused(f"the PACS refused the {what}: status 0x{status.Status:04X} {comment}".strip())
    finally:
        if assoc.is_established:
            assoc.release()


def send_to_pacs(*, send_id: int) -> bool:
    """Do a queued send: build the instances, store them, record the outcome. True when sent.

    PacsUnavailable propagates (the task retries); the attempt is counted first."""
    with transaction.atomic():
        send = (
            PacsSend.objects.select_for_update(of=("self",))
            .select_related("version__donor__centre", "annotation__donor")
            .get(pk=send_id)
        )
        if send.finished:
            return send.state == PacsSend.State.SENT
        send.state = PacsSend.State.SENDING
        send.attempts += 1
        send.save(update_fields=["state", "attempts"])
    try:
        built = report_instances(send.version) if send.version is not None else anatomy_instances(send)
        store_in_pacs(built.datasets, ae_title=send.ae_title, host=send.host, port=send.port)
    except PacsRefused as refused:
        record_pacs_failure(send_id=send_id, reason=str(refused))
        return False
    with transaction.atomic():
        send = (
            PacsSend.objects.select_for_update(of=("self",))
            .select_related("version__donor", "annotation__donor")
            .get(pk=send_id)
        )
        send.state = PacsSend.State.SENT
        send.error = ""
        send.note = built.note[:300]
        send.study_instance_uid = built.study_uid
        send.instances = [
            {"what": what, "sop_class_uid": str(ds.SOPClassUID), "sop_instance_uid": str(ds.SOPInstanceUID)}
            for what, ds in built.datasets
        ]
        send.finished_at = timezone.now()
        send.save(update_fields=["state", "error", "note", "study_instance_uid", "instances", "finished_at"])
        record_event(
            actor=None,
            kind=AuditEvent.Kind.CREATE,
            record=send,
            donor=send.donor,
            channel="worker",
            summary=f"sent {send.subject} to PACS {send.destination}: " + ", ".join(what for what, _ in built.datasets),
            changes={"instances": send.instances, "study_instance_uid": send.study_instance_uid},
        )
    return True


def record_pacs_retry(*, send_id: int, reason: str) -> None:
    PacsSend.objects.filter(pk=send_id).exclude(state__in=[PacsSend.State.SENT, PacsSend.State.FAILED]).update(
        state=PacsSend.State.RETRYING, error=reason[:500]
    )


def record_pacs_failure(*, send_id: int, reason: str) -> None:
    """A send that gave up: its reason on the row and in the audit trail."""
    with transaction.atomic():
        send = (
            PacsSend.objects.select_for_update(of=("self",))
            .select_related("version__donor", "annotation__donor")
            .get(pk=send_id)
        )
        if send.finished:
            return
        send.state = PacsSend.State.FAILED
        send.error = reason[:500]
        send.finished_at = timezone.now()
        send.save(update_fields=["state", "error", "finished_at"])
        record_event(
            actor=None,
            kind=AuditEvent.Kind.UPDATE,
            record=send,
            donor=send.donor,
            channel="worker",
            summary=f"could not send {send.subject} to PACS "
            f"{send.destination} after {counted(send.attempts, 'attempt', 'attempts')}: {reason}"[:500],
        )
