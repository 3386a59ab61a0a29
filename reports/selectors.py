"""Reads of issued report versions, scoped to the actor's centre; the anatomy as a DICOM SR."""

from __future__ import annotations

import pydicom
from django.core.files.storage import default_storage
from pydicom.dataset import Dataset

from classification.models import Annotation
from classification.selectors import anatomy_series, live_result
from core.audit import Actor, record_event
from core.errors import IllegalState, NotFound
from core.models import AuditEvent
from core.roles import Action
from donors.models import Donor
from donors.services import record_refused_access, require
from imaging.models import Measurement, Series
from imaging.selectors import refuse_while_images_unresolved, reportable_series

from .dicom_sr import (
    NotWritable,
    Observer,
    ViewerMeasurement,
    anatomy_sr_dataset,
    derived_uid,
    lengths_from_measurements,
)
from .models import PacsDestination, PacsSend, ReportVersion


def version_for(*, actor: Actor, pk, action: Action = Action.VIEW_REPORT) -> ReportVersion:
    """The issued version if its donor is in the actor's centre; another centre's is not found
    (and the attempt audited)."""
    require(actor, action)
    version = (
        ReportVersion.objects.select_related("donor", "donor__centre", "issued_by").filter(pk=pk).first()
        if str(pk).isdigit()
        else None
    )
    if version is None or version.donor.centre_id != actor.centre_id:
        if version is not None:
            record_refused_access(
                actor=actor,
                record_type="reports.ReportVersion",
                record_id=pk,
                target_centre_id=version.donor.centre_id,
                donor_id=version.donor_id,
            )
        raise NotFound(f"no report {pk} in your centre")
    return version


def versions_of(*, donor) -> list[ReportVersion]:
    return list(ReportVersion.objects.filter(donor=donor).select_related("issued_by").order_by("-number"))


# What changes a donor's records; reads, refusals and the reports' own versions and PDFs do not.
RECORD_CHANGES = (AuditEvent.Kind.CREATE, AuditEvent.Kind.UPDATE, AuditEvent.Kind.DELETE, AuditEvent.Kind.TRANSITION)


def record_changes_since(*, donor, version: ReportVersion | None) -> list[AuditEvent]:
    """The changes to the donor's records made after `version` was issued (none without a version),
    oldest first."""
    if version is None:
        return []
    return list(
        AuditEvent.objects.filter(donor_id=donor.pk, kind__in=RECORD_CHANGES, at__gt=version.issued_at)
        .exclude(record_type__startswith="reports.")
        .select_related("user")
        .order_by("at", "id")
    )


def require_pdf_ready(version: ReportVersion) -> None:
    if version.pdf_state == ReportVersion.PdfState.PENDING:
        raise IllegalState("the PDF is still being rendered; try again in a moment")
    if version.pdf_state == ReportVersion.PdfState.FAILED:
        raise IllegalState(f"the PDF could not be rendered: {version.pdf_error}")
    if not version.pdf:
        raise IllegalState("the PDF is missing")


def mip_withdrawn(version: ReportVersion) -> bool:
    """The series whose MIP the version froze was later detached from the donor (or its identity put
    in doubt by new files): the picture is no longer shown."""
    mip = (version.content.get("biliary") or {}).get("mip") or {}
    if not version.mip_path or not mip.get("series_id"):
        return False
    return not reportable_series(version.donor).filter(pk=mip["series_id"]).exists()


def stored_mip(version: ReportVersion) -> bytes | None:
    if not version.mip_path or mip_withdrawn(version):
        return None
    with default_storage.open(version.mip_path, "rb") as handle:
        return handle.read()


def pacs_destination_of(donor: Donor) -> PacsDestination | None:
    """The donor's centre's PACS destination when it is switched on."""
    return PacsDestination.objects.filter(centre_id=donor.centre_id, enabled=True).first()


def pacs_sends_of(version: ReportVersion) -> list[PacsSend]:
    return list(version.pacs_sends.select_related("requested_by"))


def anatomy_pacs_sends(annotation: Annotation, *, last: int | None = None) -> list[PacsSend]:
    """The sends of the anatomy's SR on its own (not those of reports), newest first."""
    sends = annotation.pacs_sends.select_related("requested_by")
    return list(sends[:last] if last is not None else sends)


def annotation_for(*, actor: Actor, pk, action: Action = Action.VIEW_REPORT) -> Annotation:
    """The donor's anatomy if the donor is in the actor's centre; another centre's is not found (and the
    attempt audited)."""
    require(actor, action)
    annotation = (
        Annotation.objects.select_related("donor", "donor__centre").filter(pk=pk).first() if str(pk).isdigit() else None
    )
    if annotation is None or annotation.donor.centre_id != actor.centre_id:
        if annotation is not None:
            record_refused_access(
                actor=actor,
                record_type="classification.Annotation",
                record_id=pk,
                target_centre_id=annotation.donor.centre_id,
                donor_id=annotation.donor_id,
            )
        raise NotFound(f"no annotation {pk} in your centre")
    return annotation


# ---------------------------------------------------------------- the anatomy as a DICOM SR


def anatomy_sr(annotation: Annotation) -> Dataset:
    """The DICOM SR (reports.dicom_sr) of the donor's final anatomy revision, cited on the MRCP
    series it was read on. Not audited: the caller records the read with `record_anatomy_sr_read`.

    Refused (409) while the anatomy is a draft, or when no stored MRCP series is known for it."""
    if annotation.state != Annotation.State.FINAL:
        raise IllegalState(
            f"the biliary anatomy (revision {annotation.revision}) is a draft: only a final anatomy is "
            "exported as a structured report"
        )
    donor = annotation.donor
    refuse_while_images_unresolved(donor, cannot="export the anatomy as a structured report")
    series = series_read_on(annotation)
    instances = list(series.instances.order_by("slice_index", "pk")) if series is not None else []
    if series is None or not instances:
        raise IllegalState(
            "the biliary anatomy names no stored MRCP series it was read on: record the series on the anatomy "
            "page before exporting it as a structured report"
        )
    images: list[Dataset] = []
    for instance in instances:
        with default_storage.open(instance.file, "rb") as handle:
            images.append(pydicom.dcmread(handle, stop_before_pixels=True))
    try:
        return _anatomy_sr_of(annotation, series, images)
    except NotWritable as error:  # only a document the checks would refuse; kept from being a 500
        raise IllegalState(f"the biliary anatomy cannot be written as a structured report: {error}") from error


def _anatomy_sr_of(annotation: Annotation, series: Series, images: list[Dataset]) -> Dataset:
    donor = annotation.donor
    measurements = [
        ViewerMeasurement(label=m.label, length_mm=m.length_mm, patient_points=m.patient_points)
        for m in Measurement.objects.filter(donor=donor, series=series).order_by("-created_at", "-pk")
    ]
    user = annotation.finalised_by or annotation.updated_by
    family, given = (user.last_name or "").strip(), (user.first_name or "").strip()
    study_uid = str(images[0].StudyInstanceUID)
    return anatomy_sr_dataset(
        document=annotation.document,
        result=live_result(donor=donor, annotation=annotation),
        images=images,
        observer=Observer(
            name=f"{family}^{given}" if family or given else user.username,
            login=user.username,
            organisation=donor.centre.name,
        ),
        measured_lengths=lengths_from_measurements(
            annotation.document, measurements, str(images[0].get("FrameOfReferenceUID", "") or "")
        ),
        sop_instance_uid=derived_uid(
            "anatomy-sr",
            study_uid,
            series.series_instance_uid,
            str(annotation.pk),
            str(annotation.revision),
            annotation.document_sha256,
        ),
        series_instance_uid=derived_uid("anatomy-sr-series", study_uid),
        finalised_at=annotation.finalised_at or annotation.updated_at,
        instance_number=annotation.revision,
    )


def series_read_on(annotation: Annotation) -> Series | None:
    """The series the anatomy names (of a matched or confirmed study of the donor); for an anatomy
    recorded with its study only, that study's first MRCP series (as the anatomy page shows it)."""
    if annotation.series_uid:
        return (
            reportable_series(annotation.donor)
            .filter(series_instance_uid=annotation.series_uid, study__study_instance_uid=annotation.study_uid)
            .select_related("study")
            .first()
        )
    return anatomy_series(annotation.donor, annotation)[1]


def final_anatomy_of(*, donor: Donor) -> Annotation:
    """The donor's anatomy when it is final; a clear refusal otherwise."""
    annotations = Annotation.objects.select_related("donor__centre", "finalised_by", "updated_by")
    annotation = annotations.filter(donor=donor).first()
    if annotation is None:
        raise IllegalState(f"donor {donor.code} has no biliary anatomy recorded: nothing to export")
    if annotation.state != Annotation.State.FINAL:
        raise IllegalState(
            f"the biliary anatomy of donor {donor.code} (revision {annotation.revision}) is a draft: the radiologist "
            "marks it final before it is exported"
        )
    return annotation


def record_anatomy_sr_read(
    *, actor: Actor | None, annotation: Annotation, channel: str | None = None, what: str = ""
) -> None:
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.READ,
        record=annotation,
        donor=annotation.donor,
        channel=channel,
        summary=f"{what or 'read'} the biliary anatomy (revision {annotation.revision}) as a DICOM structured report",
    )
