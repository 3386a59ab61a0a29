"""Every write of the imaging app: uploads, their import, identity checks, MRCP calls, measurements.

Keyword-only functions, one transaction and one audit event each (the import writes one
event when it finishes; see `imaging.ingest` for how it survives failures).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import Actor, record_event
from core.errors import IllegalState, InvalidInput, NotPermitted
from core.models import AuditEvent
from core.roles import Action, Role
from donors.models import Centre, Donor
from donors.services import require

from . import ingest, jobs, proposals, rendering
from .dicom import distance_mm, pixel_to_patient
from .identity import identity_problems
from .models import (
    DicomPeer,
    Instance,
    Measurement,
    Series,
    Study,
    TreeProposal,
    Upload,
    UploadFile,
    UploadSource,
    donor_folder,
)
from .slices import geometry_of, slice_at
from .tasks import ingest_upload_task, propose_tree_task, queue_tree_proposals, render_series_task

ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Incoming:
    """A file handed to `create_upload`: a name, its size and a readable binary file (or a path)."""

    name: str
    size: int
    file: object


@contextmanager
def _opened(incoming: Incoming):
    if isinstance(incoming.file, (str, os.PathLike)):
        with open(incoming.file, "rb") as handle:
            yield handle
    else:
        yield incoming.file


def _clean_name(name: str, seen: set[str]) -> str:
    parts = [p.strip() for p in (name or "").replace("\\", "/").split("/")]
    base = "/".join(p for p in parts if p not in ("", ".", ".."))[-200:] or "unnamed"
    candidate, number = base, 2
    while candidate in seen:
        candidate, number = f"{base} ({number})", number + 1
    seen.add(candidate)
    return candidate


def _is_zip(file) -> bool:
    position = file.tell() if hasattr(file, "tell") else 0
    head = file.read(4)
    file.seek(position)
    return head == ZIP_MAGIC


def create_upload(*, actor: Actor | None, donor: Donor, files: list[Incoming], channel: str = "page") -> Upload:
    """Keep the files as received and queue their import after commit.

    Files over the per-file or per-upload limits are refused here with a reason in the report
    (nothing of them is stored); the rest go on.
    """
    if actor is not None:
        require(actor, Action.UPLOAD_IMAGES)
        if donor.centre_id != actor.centre_id:
            raise NotPermitted("not a donor of your centre")
    if not files:
        raise InvalidInput("no files", fields={"files": ["choose DICOM files or a zip archive"]})
    limits = ingest.limits()
    stored: list[str] = []
    try:
        with transaction.atomic():
            upload = Upload.objects.create(
                donor=donor,
                uploaded_by=actor.user if actor else None,
                channel=channel,
                received_files=len(files),
                received_bytes=sum(f.size for f in files),
            )
            folder = f"{donor_folder(donor.pk)}/upload-{upload.pk}"
            seen: set[str] = set()
            used_bytes = 0
            sources: list[UploadSource] = []
            refused: list[UploadFile] = []
            for index, incoming in enumerate(files):
                name = _clean_name(incoming.name, seen)
                with _opened(incoming) as handle:
                    source = _keep(upload, folder, index, name, incoming.size, handle, used_bytes, limits, refused)
                if source is not None:
                    stored.append(source.path)
                    sources.append(source)
                    used_bytes += incoming.size
            UploadSource.objects.bulk_create(sources)
            UploadFile.objects.bulk_create(refused)
            upload.rejected = len(refused)
            # Counted now so that the progress bar knows its end from the start.
            upload.expected_files = len(refused) + sum(_report_lines(source) for source in sources)
            upload.save(update_fields=["rejected", "expected_files"])
            record_event(
                actor=actor,
                kind=AuditEvent.Kind.CREATE,
                record=upload,
                donor=donor,
                channel=channel,
                summary=f"uploaded {len(files)} file(s), {upload.received_bytes} bytes, for DICOM import"
                + (f"; {len(refused)} refused at once" if refused else ""),
            )
            transaction.on_commit(lambda: queue_ingest(upload.pk))
    except BaseException:
        for path in stored:
            default_storage.delete(path)
        raise
    return upload


def _keep(upload, folder, index, name, size, handle, used_bytes, limits, refused) -> UploadSource | None:
    """Store one received file as a source of the upload (not saved yet), or refuse it (None)."""
    is_zip = _is_zip(handle)
    reason = ""
    if index >= limits["max_files"]:
        reason = f"not read: the upload has more than {limits['max_files']} files"
    elif not is_zip and size > limits["max_file_bytes"]:
        reason = f"file too large ({size} bytes; the limit is {limits['max_file_bytes']})"
    elif used_bytes + size > limits["max_upload_bytes"]:
        reason = f"not read: the upload is larger than {limits['max_upload_bytes']} bytes"
    if reason:
        refused.append(
            UploadFile(upload=upload, name=name, size=size, outcome=UploadFile.Outcome.REJECTED, reason=reason)
        )
        return None
    content = handle if isinstance(handle, File) else File(handle, name=name)
    path = default_storage.save(f"{folder}/{index:05d}{'.zip' if is_zip else '.dcm'}", content)
    return UploadSource(
        upload=upload,
        index=index,
        name=name,
        size=size,
        path=path,
        kind=UploadSource.Kind.ZIP if is_zip else UploadSource.Kind.FILE,
    )


def _report_lines(source: UploadSource) -> int:
    if source.kind != UploadSource.Kind.ZIP:
        return 1
    with default_storage.open(source.path, "rb") as handle:
        return ingest.zip_report_lines(handle)


def queue_ingest(upload_id: int) -> None:
    ingest_upload_task.delay(upload_id)


# ------------------------------------------------------------------ the DICOM node


@dataclass(frozen=True)
class Received:
    """A file the DICOM node (or STOW-RS) stored (a name in the default storage), the Patient ID
    it names and its study (empty: unknown, routed by its Patient ID alone)."""

    path: str
    name: str
    size: int
    patient_id: str
    study_instance_uid: str = ""


@dataclass(frozen=True)
class Refused:
    """A file the DICOM node answered with a failure status, and why (and its study when known)."""

    name: str
    size: int
    reason: str
    study_instance_uid: str = ""


def donor_for_patient_id(*, centre_id: int, patient_id: str) -> Donor | None:
    """The centre's donor whose MRN is the Patient ID; None when none or several are."""
    patient_id = (patient_id or "").strip()
    if not patient_id:
        return None
    found = list(Donor.objects.filter(centre_id=centre_id, mrn=patient_id)[:2])
    return found[0] if len(found) == 1 else None


def file_received(
    *,
    peer: DicomPeer,
    address: str,
    files: list[Received],
    refused: list[Refused] | tuple = (),
    queue_import: bool = True,
) -> list[Upload]:
    """File what an association delivered, one upload per study in it, and queue the imports.

    Each study is filed under the centre's donor whose MRN is its Patient ID (that of its first
    file); a study whose Patient ID names no single donor goes to the centre's unmatched studies.
    A file refused on receipt is a report line of its study's upload when its study is known and
    delivered, else of the first upload (of one of the centre's unmatched studies when nothing
    was stored). `queue_import=False`: the caller imports the uploads itself (the DICOM node, which
    has read the files already) and queues what it could not finish."""
    return _file_delivery(
        centre_id=peer.centre_id,
        actor=None,
        channel="dicom",
        files=files,
        refused=refused,
        how=f"by DICOM C-STORE from {peer.ae_title} at {address}",
        changes={"calling_ae": peer.ae_title, "address": address},
        queue_import=queue_import,
    )


def file_stowed(*, actor: Actor, files: list[Received], refused: list[Refused] | tuple = ()) -> list[Upload]:
    """File what a DICOMweb STOW-RS request delivered, routed as the DICOM node routes (`file_received`)."""
    require(actor, Action.UPLOAD_IMAGES)
    if actor.centre_id is None:
        raise NotPermitted("not a member of a centre")
    return _file_delivery(
        centre_id=actor.centre_id,
        actor=actor,
        channel="dicomweb",
        files=files,
        refused=refused,
        how="by DICOMweb STOW-RS",
        changes={},
    )


def _by_study(files: list[Received], refused: list[Refused] | tuple) -> list[tuple[list[Received], list[Refused]]]:
    """The delivered files by study, in the order their studies first came, each with its refused files."""
    studies: dict[str, tuple[list[Received], list[Refused]]] = {}
    for received in files:
        key = received.study_instance_uid or f"patient {received.patient_id}"
        studies.setdefault(key, ([], []))[0].append(received)
    if not studies:
        studies[""] = ([], [])
    first = next(iter(studies.values()))
    for one in refused:
        studies.get(one.study_instance_uid, first)[1].append(one)
    return list(studies.values())


def _file_delivery(
    *,
    centre_id: int,
    actor: Actor | None,
    channel: str,
    files: list[Received],
    refused: list[Refused] | tuple,
    how: str,
    changes: dict,
    queue_import: bool = True,
) -> list[Upload]:
    donors: dict[str, Donor | None] = {}
    uploads = []
    with transaction.atomic():
        for group, group_refused in _by_study(files, refused):
            patient_id = group[0].patient_id if group else ""
            if patient_id not in donors:
                donors[patient_id] = donor_for_patient_id(centre_id=centre_id, patient_id=patient_id)
            donor = donors[patient_id]
            study_uid = group[0].study_instance_uid if group else ""
            upload = Upload.objects.create(
                centre_id=centre_id,
                donor=donor,
                uploaded_by=actor.user if actor and actor.user.is_authenticated else None,
                channel=channel,
                received_files=len(group) + len(group_refused),
                received_bytes=sum(r.size for r in group) + sum(r.size for r in group_refused),
                expected_files=len(group) + len(group_refused),
                rejected=len(group_refused),
            )
            UploadFile.objects.bulk_create(
                UploadFile(
                    upload=upload, name=r.name, size=r.size, outcome=UploadFile.Outcome.REJECTED, reason=r.reason
                )
                for r in group_refused
            )
            UploadSource.objects.bulk_create(
                UploadSource(upload=upload, index=index, name=r.name, size=r.size, path=r.path)
                for index, r in enumerate(group)
            )
            record_event(
                actor=actor,
                kind=AuditEvent.Kind.CREATE,
                record=upload,
                donor=donor,
                centre_id=centre_id,
                channel=None if actor else channel,
                summary=(f"received {len(group)} file(s)" + (f" of study {study_uid}" if study_uid else "") + f" {how}")
                + (f"; {len(group_refused)} refused on receipt" if group_refused else "")
                + ("" if donor else "; filed among the centre's unmatched studies (no single donor has its MRN)"),
                changes={**changes, "refused": len(group_refused), "study_instance_uid": study_uid},
            )
            if queue_import:
                transaction.on_commit(partial(queue_ingest, upload.pk))
            uploads.append(upload)
    return uploads


def queue_unfinished_node_imports() -> list[int]:
    """Queue the imports of DICOM node uploads left unfinished (the node stopped while importing
    them, or could not queue them): those neither finished nor held by a live lease."""
    now = timezone.now()
    waiting = list(
        Upload.objects.filter(
            channel="dicom", state__in=[Upload.State.RECEIVED, Upload.State.PROCESSING], finished_at__isnull=True
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for upload_id in waiting:
        queue_ingest(upload_id)
    return waiting


def record_refused_association(*, calling_ae: str, address: str, reason: str) -> None:
    """An association the DICOM node refused: who called, from where, and why."""
    peer = DicomPeer.objects.filter(ae_title=calling_ae.strip()).first()
    record_event(
        actor=None,
        kind=AuditEvent.Kind.DENIED,
        record_type="imaging.DicomPeer",
        record_id=peer.pk if peer else "",
        centre_id=peer.centre_id if peer else None,
        channel="dicom",
        summary=f"refused a DICOM association from AE {calling_ae!r} at {address}: {reason}"[:300],
        changes={"calling_ae": calling_ae, "address": address},
    )


# ------------------------------------------------------------------ DICOM peers


def clean_ae_title(value: str, field: str = "ae_title") -> str:
    """An AE title as DICOM allows it (PS3.5 AE: 1-16 characters of the default repertoire, no
    backslash, no control character; leading and trailing spaces are not significant)."""
    title = (value or "").strip(" ")
    reason = ""
    if not title:
        reason = "required: 1 to 16 characters, not all spaces"
    elif len(title) > 16:
        reason = f"at most 16 characters ({len(title)} given)"
    elif any(not (" " <= ch <= "~") or ch == "\\" for ch in title):
        reason = "only printable ASCII characters, no backslash or control character"
    if reason:
        raise InvalidInput(f"{field}: {reason}", fields={field: [reason]})
    return title


def _clean_host(value: str) -> str:
    host = (value or "").strip()
    if len(host) > 255 or any(ch.isspace() or not ch.isprintable() for ch in host):
        raise InvalidInput("host: a host name or address", fields={"host": ["a host name or address"]})
    return host


@transaction.atomic
def register_dicom_peer(*, actor: Actor | None, centre: Centre, ae_title: str, host: str = "") -> DicomPeer:
    """Allow a system (a PACS, a scanner) to send studies to the DICOM node for the centre."""
    if actor is not None:
        require(actor, Action.UPLOAD_IMAGES)
        if centre.pk != actor.centre_id:
            raise NotPermitted("not your centre")
    title = clean_ae_title(ae_title)
    host = _clean_host(host)
    if DicomPeer.objects.filter(ae_title=title).exists():
        raise IllegalState(f"the AE title {title} is already registered", fields={"ae_title": ["already registered"]})
    peer = DicomPeer.objects.create(ae_title=title, centre=centre, host=host)
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=peer,
        channel=None if actor else "command",
        centre_id=centre.pk,
        summary=f"registered DICOM peer {title}" + (f" calling from {host}" if host else " (any address)"),
        changes={"ae_title": [None, title], "host": [None, host], "centre": [None, centre.code]},
    )
    return peer


# ------------------------------------------------------------------ checks by people


def _require_person(actor: Actor, action: Action) -> None:
    require(actor, action)
    if actor.api_client is not None or Role.INTEGRATION_CLIENT in actor.roles and len(actor.roles) == 1:
        raise NotPermitted("a person must do this, not a hospital system")


def _identity_reason(reason: str, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            f"{field}: say how the identity was checked", fields={field: ["required: say how the identity was checked"]}
        )
    if len(reason) > 300:
        raise InvalidInput(f"{field}: at most 300 characters", fields={field: ["at most 300 characters"]})
    return reason


def _locked_study(actor: Actor, study: Study) -> Study:
    _require_person(actor, Action.RESOLVE_IMAGE_IDENTITY)
    study = Study.objects.select_for_update(of=("self",)).select_related("donor").get(pk=study.pk)
    if study.centre_id != actor.centre_id:
        raise NotPermitted("not a study of your centre")
    return study


@transaction.atomic
def confirm_identity(*, actor: Actor, study: Study, reason: str) -> Study:
    """A radiologist confirms that the study is the donor's despite the identity warning."""
    study = _locked_study(actor, study)
    reason = _identity_reason(reason)
    if study.identity_state != Study.Identity.UNRESOLVED:
        raise IllegalState(
            f"the study's identity is not in doubt ({study.get_identity_state_display().lower()}); "
            "there is nothing to confirm"
        )
    study.identity_state = Study.Identity.CONFIRMED
    study.identity_reason = reason
    study.identity_acknowledged_by = actor.user
    study.identity_acknowledged_at = timezone.now()
    study._history_user = actor.user
    study.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.UPDATE,
        record=study,
        donor=study.donor,
        summary=f"confirmed study {study.study_instance_uid} is the donor's despite its identity warning"[:300],
        changes={
            "identity_state": ["unresolved", "confirmed"],
            "identity_warning": study.identity_warning,
            "reason": reason,
        },
    )
    return study


@transaction.atomic
def detach_study(*, actor: Actor, study: Study, reason: str) -> Study:
    """A radiologist takes a study that is not the donor's off the donor's record. Its files are kept,
    filed among the centre's unmatched studies until it is attached to the right donor."""
    study = _locked_study(actor, study)
    reason = _identity_reason(reason)
    donor = study.donor
    if donor is None:
        raise IllegalState("the study is already among the centre's unmatched studies")
    measured = Measurement.objects.filter(series__study=study).count()
    if measured:
        raise IllegalState(
            f"{measured} measurement(s) of the donor were made on this study's series; a study with the donor's "
            "measurements cannot be detached",
            fields={"study": ["has measurements of the donor"]},
        )
    before = study.identity_state
    study.donor = None
    study.detached_from = donor
    study.identity_state = Study.Identity.DETACHED
    study.identity_reason = reason
    study.identity_acknowledged_by = actor.user
    study.identity_acknowledged_at = timezone.now()
    study._history_user = actor.user
    study.save()
    # Instances carry the donor for the per-donor uniqueness of their UIDs; the files stay where they are.
    Instance.objects.filter(series__study=study).update(donor=None)
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.UPDATE,
        record=study,
        donor=donor,
        summary=f"detached study {study.study_instance_uid} from the donor ({study.series.count()} series kept "
        "among the centre's unmatched studies)"[:300],
        changes={
            "identity_state": [before, "detached"],
            "donor": [donor.code, None],
            "identity_warning": study.identity_warning,
            "reason": reason,
        },
    )
    return study


@transaction.atomic
def attach_study(*, actor: Actor, study: Study, donor: Donor) -> Study:
    """A radiologist files an unmatched study under a donor; the identity is checked against that donor."""
    study = _locked_study(actor, study)
    if study.donor_id is not None:
        raise IllegalState("the study is filed under a donor; only an unmatched study can be attached")
    if donor.centre_id != actor.centre_id:
        raise NotPermitted("not a donor of your centre")
    if Study.objects.filter(donor=donor, study_instance_uid=study.study_instance_uid).exists():
        raise IllegalState(
            f"donor {donor.code} already has a study with this Study Instance UID",
            fields={"donor": ["already has this study"]},
        )
    uids = Instance.objects.filter(series__study=study).values("sop_instance_uid")
    if Instance.objects.filter(donor=donor, sop_instance_uid__in=uids).exists():
        raise IllegalState(
            f"donor {donor.code} already has images of this study",
            fields={"donor": ["already has images of this study"]},
        )
    problems = identity_problems(
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        mrn=donor.mrn,
        given_name=donor.given_name,
        family_name=donor.family_name,
    )
    study.donor = donor
    study.identity_warning = "\n".join(problems)
    study.identity_state = Study.Identity.UNRESOLVED if problems else Study.Identity.MATCHED
    study.identity_reason = ""
    study.identity_acknowledged_by = None
    study.identity_acknowledged_at = None
    study._history_user = actor.user
    study.save()
    Instance.objects.filter(series__study=study).update(donor=donor)
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.UPDATE,
        record=study,
        donor=donor,
        summary=f"attached unmatched study {study.study_instance_uid} to the donor"
        + (f"; identity warning: {'; '.join(problems)}" if problems else "; its identity matches the donor"),
        changes={
            "identity_state": ["detached", study.identity_state],
            "donor": [None, donor.code],
            "detached_from": study.detached_from.code if study.detached_from else None,
        },
    )
    return study


@transaction.atomic
def discard_study(*, actor: Actor, study: Study, reason: str) -> None:
    """A radiologist discards an unmatched study that belongs to no donor of the centre (sent by
    mistake, another patient): its records and files are deleted; the audit trail keeps what it was."""
    study = _locked_study(actor, study)
    reason = _identity_reason(reason)
    if study.donor_id is not None:
        raise IllegalState("the study is filed under a donor; only an unmatched study can be discarded")
    instances = Instance.objects.filter(series__study=study)
    files = list(instances.values_list("file", flat=True))
    series = list(study.series.all())
    pictures = [p for s in series for p in (s.mip_path, s.mip_data_path, s.thumbnail_path) if p]
    summary = {
        "study_instance_uid": study.study_instance_uid,
        "patient_id": study.patient_id,
        "patient_name": study.patient_name,
        "series": len(series),
        "instances": len(files),
        "reason": reason,
    }
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.DELETE,
        record=study,
        centre_id=study.centre_id,
        summary=f"discarded unmatched study {study.study_instance_uid} ({len(series)} series, {len(files)} images): "
        f"{reason}"[:300],
        changes=summary,
    )
    instances.delete()
    for one in series:
        one._history_user = actor.user
        one.delete()
    study._history_user = actor.user
    study.delete()

    def delete_files() -> None:
        for path in files + pictures:
            default_storage.delete(path)

    transaction.on_commit(delete_files)


@transaction.atomic
def set_mrcp_override(*, actor: Actor, series: Series, mrcp: bool | None) -> Series:
    """A radiologist says whether the series is the MRCP (None: follow the recognition)."""
    require(actor, Action.MEASURE_IMAGES)
    series = Series.objects.select_for_update(of=("self",)).select_related("study__donor").get(pk=series.pk)
    if mrcp and series.modality != "MR":
        raise InvalidInput(
            f"a {series.modality or 'non-MR'} series cannot be used as MRCP",
            fields={"mrcp": [f"modality {series.modality or 'missing'} is not MR"]},
        )
    before = series.mrcp_override
    if before == mrcp:
        return series
    was_used = series.used_as_mrcp
    series.mrcp_override = mrcp
    series.mrcp_override_by = actor.user
    series.mrcp_override_at = timezone.now()
    series._history_user = actor.user
    if series.used_as_mrcp and not was_used and not series.mip_path:
        series.render_state = Series.Render.PENDING
    series.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.UPDATE,
        record=series,
        donor=series.study.donor,
        summary=f"MRCP call for series {series.description or series.pk}: "
        f"{'automatic' if mrcp is None else ('MRCP' if mrcp else 'not MRCP')}",
        changes={"mrcp_override": [before, mrcp]},
    )
    if series.render_state == Series.Render.PENDING:
        queue_render(series.pk)
    return series


@transaction.atomic
def render_again(*, actor: Actor, series: Series) -> Series:
    """Someone asks for a series' pictures to be made again: after a failure, or a render
    that never finished (its worker died). Up-to-date pictures are left alone."""
    require(actor, Action.UPLOAD_IMAGES)
    series = Series.objects.select_for_update(of=("self",)).select_related("study__donor").get(pk=series.pk)
    if not rendering.needs_render(series):
        if series.render_state == Series.Render.RENDERING:
            raise IllegalState("the pictures of this series are being made now")
        raise IllegalState("the pictures of this series are up to date")
    before = series.render_state
    series.render_state = Series.Render.PENDING
    series.render_error = ""
    series.skip_history_when_saving = True  # a state of the pictures, not a clinical change
    series.save(update_fields=["render_state", "render_error", "updated_at"])
    del series.skip_history_when_saving
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.UPDATE,
        record=series,
        donor=series.study.donor,
        summary=f"asked for the pictures of series {series.description or series.pk} to be made again",
        changes={"render_state": [before, series.render_state]},
    )
    queue_render(series.pk)
    return series


# ------------------------------------------------------------------ measuring


def _number(value, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: not a number", fields={field: ["not a number"]}) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"{field}: not a number", fields={field: ["not a number"]})
    return number


def locate(*, series: Series, kind: str, point: dict, field: str = "points") -> tuple[dict, tuple]:
    """A clicked point -> (the point as stored, its patient coordinates in mm)."""
    if not isinstance(point, dict):
        raise InvalidInput(f"{field}: each point is an object", fields={field: ["each point is an object"]})
    row, col = _number(point.get("row"), f"{field}.row"), _number(point.get("col"), f"{field}.col")
    if kind == Measurement.Kind.MIP:
        if not series.mip_data_path:
            raise IllegalState("the series has no MIP yet")
        data = rendering.load_mip_data(series)
        rows, cols = data["image"].shape
        r, c = round(row), round(col)
        if not (0 <= r < rows and 0 <= c < cols):
            raise InvalidInput(f"{field}: outside the MIP", fields={field: [f"row 0-{rows - 1}, col 0-{cols - 1}"]})
        index = int(data["slice_index"][r, c])
        source_row, source_col = float(data["row_index"][r, c]), float(data["col_index"][r, c])
        found = slice_at(series, index)
        stored = {"row": r, "col": c, "slice": index, "source_row": source_row, "source_col": source_col}
    elif kind == Measurement.Kind.SLICES:
        slice_number = point.get("slice")
        if not isinstance(slice_number, int) or isinstance(slice_number, bool):
            raise InvalidInput(f"{field}.slice: a whole number", fields={f"{field}.slice": ["a whole number"]})
        index = slice_number
        found = slice_at(series, index)
        if found is None:
            raise InvalidInput(f"{field}.slice: no slice {index}", fields={f"{field}.slice": [f"no slice {index}"]})
        instance = found[0]
        if not (-0.5 <= row <= instance.rows - 0.5 and -0.5 <= col <= instance.columns - 0.5):
            raise InvalidInput(f"{field}: outside the image", fields={field: ["outside the image"]})
        source_row, source_col = row, col
        stored = {"slice": index, "row": round(row, 3), "col": round(col, 3)}
    else:
        raise InvalidInput("kind: 'slices' or 'mip'", fields={"kind": ["'slices' or 'mip'"]})
    geometry = geometry_of(*found) if found is not None else None
    if geometry is None:
        raise IllegalState(
            "this image has no position or orientation: distances cannot be measured on it",
            fields={"image_position": ["missing"]},
        )
    if not geometry.spacing_known:
        reason = "missing or not two positive numbers"
        raise IllegalState(
            f"this image has no usable Pixel Spacing (0028,0030), {reason}: distances cannot be measured on it",
            fields={"pixel_spacing": [reason]},
        )
    patient = pixel_to_patient(geometry, source_row, source_col)
    return stored, tuple(round(v, 3) for v in patient)


def measure(*, series: Series, kind: str, points) -> dict:
    """The distance between two clicked points, in mm, computed in patient space."""
    if not isinstance(points, (list, tuple)) or len(points) != 2:
        raise InvalidInput("points: exactly two points", fields={"points": ["exactly two points"]})
    located = [locate(series=series, kind=kind, point=p, field=f"points[{i}]") for i, p in enumerate(points)]
    stored = [s for s, _ in located]
    patient = [list(p) for _, p in located]
    return {
        "kind": kind,
        "points": stored,
        "patient_points": patient,
        "length_mm": round(distance_mm(patient[0], patient[1]), 2),
    }


@transaction.atomic
def save_measurement(*, actor: Actor, series: Series, kind: str, points, label: str = "") -> Measurement:
    require(actor, Action.MEASURE_IMAGES)
    series = Series.objects.select_related("study__donor").get(pk=series.pk)
    if series.study.donor_id is None:
        raise IllegalState("the study is detached from its donor: attach it to a donor before measuring on it")
    if series.study.identity_open:
        raise IllegalState(
            "the study's patient identity is unresolved: a radiologist must confirm it is the "
            "donor's (or detach it) before measuring on it"
        )
    label = (label or "").strip()
    if len(label) > 40:
        raise InvalidInput("label: at most 40 characters", fields={"label": ["at most 40 characters"]})
    result = measure(series=series, kind=kind, points=points)
    if result["length_mm"] <= 0:
        raise InvalidInput("points: the two points are the same", fields={"points": ["the two points are the same"]})
    donor = series.study.donor
    measurement = Measurement(
        donor=donor,
        series=series,
        kind=kind,
        points=result["points"],
        patient_points=result["patient_points"],
        length_mm=result["length_mm"],
        label=label,
        created_by=actor.user,
    )
    measurement._history_user = actor.user
    measurement.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=measurement,
        donor=donor,
        summary=f"measured {label or 'a distance'}: {measurement.length_mm:.1f} mm on series "
        f"{series.description or series.pk}"[:300],
        changes={"length_mm": [None, measurement.length_mm], "label": [None, label], "kind": [None, kind]},
    )
    return measurement


def queue_render(series_id: int) -> None:
    transaction.on_commit(lambda: render_series_task.delay(series_id))


# ------------------------------------------------------------------ the proposed duct tree


def queue_tree_proposals_of_upload(upload_id: int) -> list[int]:
    """Propose the tree of each ready 3D MRCP series an import (of the DICOM node) added to."""
    return queue_tree_proposals(jobs.upload_series_ids(upload_id=upload_id))


@transaction.atomic
def request_tree_proposal(*, actor: Actor, series: Series) -> TreeProposal:
    """A radiologist asks for the series' duct tree to be proposed (again), for the donor's planned graft.

    The proposal it replaces is kept, no longer current; one being made now is not doubled."""
    require(actor, Action.RECORD_ANATOMY)
    series = Series.objects.select_for_update(of=("self",)).select_related("study__donor").get(pk=series.pk)
    reason = proposals.why_not_proposable(series)
    if reason:
        raise IllegalState(f"no tree can be proposed from this series: {reason}", fields={"series": [reason]})
    donor = series.study.donor
    assert donor is not None  # why_not_proposable refuses a study filed under no donor
    graft = donor.planned_graft
    waiting = TreeProposal.objects.filter(
        series=series,
        graft=graft,
        current=True,
        state__in=[TreeProposal.State.QUEUED, TreeProposal.State.RUNNING],
        # One waiting longer than a task may run was lost with its worker: a new request replaces it.
        created_at__gte=timezone.now() - timedelta(seconds=2 * proposals.PROPOSAL_HARD_SECONDS),
    ).first()
    if waiting is not None:
        raise IllegalState(
            f"a tree proposal for this series is being made now (proposal {waiting.pk}); wait for it to finish",
            fields={"series": ["a proposal is being made"]},
        )
    proposal = proposals.open_proposal(series=series, graft=graft, requested_by=actor.user)
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=proposal,
        donor=donor,
        summary=f"asked for the duct tree of series {series.description or series.pk} to be proposed "
        f"({graft.replace('_', ' ')})"[:300],
        changes={"series": series.pk, "graft": graft, "extractor_version": proposal.extractor_version},
    )
    transaction.on_commit(partial(propose_tree_task.delay, proposal.pk))
    return proposal
