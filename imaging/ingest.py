"""Importing an upload: read each file strictly, file it under its study and series, report.

How an import survives failures:

* The upload is *claimed* with a lease (``Upload.lease_until``) under a row lock. A finished
  upload is never imported again, and a second delivery of the task while another worker
  holds a live lease does nothing (the task retries later, in case that worker dies).
* Files are imported in small batches, one transaction per batch. A file's instance is
  written only after every check on it passed, in the same transaction as its report line:
  a rejected file leaves nothing behind. A worker that dies loses at most the uncommitted batch;
  the next run skips every file that already has a report line, so the report of a resumed
  upload is the same as if nothing had happened.
* Stored files have deterministic names, so a file written just before a crash is simply
  written again. Raw files are deleted only after the batch that read them has committed.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.audit import record_event
from core.models import AuditEvent

from .bulk import insert_rows
from .dicom import (
    ArchiveRejected,
    DicomRejected,
    IncrementalMip,
    InstanceHeader,
    MissingGeometry,
    Rejection,
    iter_zip_members,
)
from .dicom.archive import declared_members
from .dicom.checks import looks_like_mrcp
from .dicom.checks import warnings as header_warnings
from .dicom.geometry import frame_geometries
from .dicom.reader import Frames, open_frames
from .identity import identity_problems
from .models import Instance, Series, Study, Upload, UploadFile, UploadSource
from .slices import finalise_series, frame_order

log = logging.getLogger(__name__)

# A batch is one transaction, ended after `settings.DICOM_INGEST_BATCH_FILES` files or this long.
BATCH_SECONDS = 1.0

FINISHED = "finished"  # nothing to do: the upload was imported before
BUSY = "busy"  # another worker holds the lease
MORE = "more"  # the time budget ran out; continue in a new task
DONE = "done"


def lease_seconds() -> int:
    """How long a claim holds without a sign of life (each committed batch renews it)."""
    value = getattr(settings, "DICOM_INGEST_LEASE_SECONDS", None) or os.environ.get("DICOM_INGEST_LEASE_SECONDS")
    return int(value or 90)


def limits() -> dict:
    return {
        "max_files": settings.DICOM_MAX_FILES,
        "max_upload_bytes": settings.DICOM_MAX_UPLOAD_BYTES,
        "max_file_bytes": settings.DICOM_MAX_FILE_BYTES,
        "max_frame_bytes": settings.DICOM_MAX_FRAME_BYTES,
        "max_ratio": settings.DICOM_MAX_COMPRESSION_RATIO,
    }


@dataclass
class Item:
    source: UploadSource  # the stored file it is, or the zip it came from
    name: str
    size: int
    data: bytes | None = None  # None: read the source's stored file
    rejection: str = ""


@dataclass
class SourceDone:
    source: UploadSource


@dataclass
class Result:
    outcome: str
    upload: Upload | None = None
    # Each series a finished import added to: the series, its slices in order, and the MIP
    # built while reading its files (None when that could not be done; rendering reads them).
    # The MIP's slices are (SOP Instance UID, frame in file order) in the order they were added.
    series: list[tuple[Series, list[Instance], tuple[IncrementalMip, list[tuple[str, int]]] | None]] = field(
        default_factory=list
    )


def claim(upload_id: int) -> Upload | str:
    """Take the upload for this run, or say why not (FINISHED, BUSY)."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update(of=("self",)).select_related("donor").filter(pk=upload_id).first()
        if upload is None or upload.finished:
            return FINISHED
        now = timezone.now()
        if upload.state == Upload.State.PROCESSING and upload.lease_until and upload.lease_until > now:
            return BUSY
        upload.state = Upload.State.PROCESSING
        upload.lease_until = now + timedelta(seconds=lease_seconds())
        upload.attempts += 1
        upload.started_at = upload.started_at or now
        upload.save(update_fields=["state", "lease_until", "attempts", "started_at"])
    return upload


def release(upload_id: int) -> None:
    """Give the lease back (the run stopped on an error or its time budget), keeping the work done."""
    Upload.objects.filter(pk=upload_id, state=Upload.State.PROCESSING).update(lease_until=None)


def _declared_bytes(handle) -> int:
    """What the zip's directory says its files expand to (checked again while reading)."""
    try:
        return declared_members(handle)[1]
    except ArchiveRejected:  # reported when it is read
        return 0


def zip_report_lines(handle) -> int:
    """How many report lines a received zip will give: one per member, or one (why it was refused)."""
    try:
        return declared_members(handle)[0]
    except ArchiveRejected:
        return 1


class IngestRun:
    """One pass over an upload's unread files; see the module docstring."""

    def __init__(self, upload: Upload, *, deadline: float | None = None):
        self.upload = upload
        # No donor: studies received for the centre that name no single donor; they are filed
        # among the centre's unmatched studies, where a radiologist attaches or discards them.
        self.donor = upload.donor
        self.centre_id = upload.centre_id
        self.deadline = deadline
        self.limits = limits()
        self.batch_files = max(1, settings.DICOM_INGEST_BATCH_FILES)
        self.reported = set(UploadFile.objects.filter(upload=upload).values_list("name", flat=True))
        self.known_sops: dict[str, int] = dict(
            self._own(Instance.objects.filter(donor=self.donor), "series__study__centre_id").values_list(
                "sop_instance_uid", "series_id"
            )
        )
        self.studies = {s.study_instance_uid: s for s in self._own(Study.objects.filter(donor=self.donor))}
        self.foreign_studies: dict[str, bool] = {}
        self.series: dict[tuple[int, str], Series] = {}
        self.identities_checked: set[tuple[int, str, str]] = set()
        self.identity_notes: list[str] = []
        self.mips: dict[int, tuple[IncrementalMip, list[tuple[str, int]]]] = {}
        self.broken_mips: set[int] = set()
        self.series_warnings: dict[int, set[str]] = {}
        self.finished_series: list[tuple[Series, list[Instance]]] = []
        self._after_commit: list[str] = []
        self._instances: list[Instance] = []
        self._lines: list[UploadFile] = []
        self._done_sources: list[int] = []
        self._kept_sources: set[int] = set()
        self._reported_here: set[str] = set()

    def _own(self, queryset, centre_path: str = "centre_id"):
        """The donor's records, or (without a donor) the centre's unmatched ones."""
        return queryset if self.donor is not None else queryset.filter(**{centre_path: self.centre_id})

    # ------------------------------------------------------------------ the loop

    def execute(self, *, channel: str) -> Upload | None:
        """Import until done, or until the time budget is spent (then None).

        The last batch and the end of the import (series ordered, counts, the audit event)
        are one transaction: an upload is never seen with all its files but not finished.
        """
        items = self._items()
        pending = next(items, None)
        while True:
            started = time.monotonic()
            with transaction.atomic():
                files = 0
                while pending is not None:
                    self._handle(pending)
                    files += isinstance(pending, Item)
                    pending = next(items, None)
                    if files >= self.batch_files or time.monotonic() - started >= BATCH_SECONDS:
                        break
                if pending is None:
                    finished = self._finish(channel=channel)
                else:
                    finished = None
                    self._flush()
                    self._save_progress()
            self._delete_after_commit()
            if finished is not None:
                return finished
            if self.deadline is not None and time.monotonic() > self.deadline:
                return None

    def _items(self) -> Iterator[Item | SourceDone]:
        for source in self.upload.sources.filter(done=False).order_by("index"):
            if source.kind == UploadSource.Kind.ZIP:
                yield from self._zip_items(source)
            elif source.name not in self.reported:
                yield Item(source, source.name, source.size)
            yield SourceDone(source)

    def _zip_items(self, source: UploadSource) -> Iterator[Item]:
        others = UploadFile.objects.filter(upload=self.upload).exclude(source=source)
        files_left = self.limits["max_files"] - others.count()
        bytes_left = self.limits["max_upload_bytes"] - sum(others.values_list("size", flat=True))
        bytes_left -= sum(
            s.size for s in self.upload.sources.exclude(pk=source.pk).filter(done=False, kind=UploadSource.Kind.FILE)
        )
        try:
            with default_storage.open(source.path, "rb") as handle:
                declared = _declared_bytes(handle)
                if declared > bytes_left:
                    raise ArchiveRejected(
                        f"it expands to {declared} bytes, more than the {max(bytes_left, 0)} left in this upload"
                    )
                handle.seek(0)
                members = iter_zip_members(
                    handle,
                    max_files=max(files_left, 0),
                    max_total_bytes=max(bytes_left, 0),
                    max_member_bytes=self.limits["max_file_bytes"],
                    max_ratio=self.limits["max_ratio"],
                )
                for member in members:
                    name = f"{source.name}/{member.name}"[:400]
                    if name in self.reported:
                        continue
                    if isinstance(member, Rejection):
                        yield Item(source, name, 0, rejection=member.reason)
                    else:
                        yield Item(source, name, len(member.data), data=member.data)
        except ArchiveRejected as refused:
            if source.name not in self.reported:
                yield Item(source, source.name, source.size, rejection=f"zip archive refused: {refused.reason}")

    def _handle(self, item: Item | SourceDone) -> None:
        if isinstance(item, SourceDone):
            self._source_done(item.source)
        elif item.rejection:
            self._line(item, UploadFile.Outcome.REJECTED, item.rejection)
        else:
            self._ingest(item)
        if isinstance(item, Item):
            self.reported.add(item.name)

    def _source_done(self, source: UploadSource) -> None:
        self._done_sources.append(source.pk)
        if source.kind == UploadSource.Kind.FILE:
            if source.pk in self._kept_sources:
                return
            if (
                source.name not in self._reported_here
                and UploadFile.objects.filter(source=source, outcome=UploadFile.Outcome.ACCEPTED).exists()
            ):
                return  # accepted by an earlier run: its instance keeps the file
        self._after_commit.append(source.path)

    def _flush(self) -> bool:
        """Write the batch's instances and report lines (inside the batch's transaction).

        False when another upload stored some of the same instances meanwhile, so that
        fewer instances were written than the batch held.
        """
        as_planned = True
        if self._instances:
            try:
                with transaction.atomic():
                    insert_rows(self._instances)
                    insert_rows(self._lines)
            except IntegrityError:
                self._flush_one_by_one()
                as_planned = False
        else:
            insert_rows(self._lines)
        if self._done_sources:
            UploadSource.objects.filter(pk__in=self._done_sources).update(done=True)
        self._instances, self._lines, self._done_sources = [], [], []
        return as_planned

    def _flush_one_by_one(self) -> None:
        """Another upload stored some of the same instances meanwhile: those become duplicates."""
        instances = {i.sop_instance_uid: i for i in self._instances}
        for line in self._lines:
            instance = instances.get(line.sop_instance_uid) if line.outcome == UploadFile.Outcome.ACCEPTED else None
            if instance is None:
                line.save()
                continue
            try:
                with transaction.atomic():
                    instance.save()
                    line.save()
            except IntegrityError:
                if instance.file != (line.source.path if line.source else ""):
                    self._after_commit.append(instance.file)
                existing = self._own(
                    Instance.objects.filter(donor=self.donor, sop_instance_uid=instance.sop_instance_uid),
                    "series__study__centre_id",
                ).first()
                line.pk = None
                line.outcome, line.reason = UploadFile.Outcome.DUPLICATE, "already stored (same SOP Instance UID)"
                line.series_id = existing.series_id if existing else None
                line.save()
                self._kept_sources.discard(line.source_id)
                if line.source_id in self._done_sources and line.source and line.source.kind == UploadSource.Kind.FILE:
                    self._after_commit.append(line.source.path)

    def _totals(self) -> dict[str, int]:
        return UploadFile.objects.filter(upload=self.upload).aggregate(
            accepted=Count("id", filter=Q(outcome=UploadFile.Outcome.ACCEPTED)),
            duplicates=Count("id", filter=Q(outcome=UploadFile.Outcome.DUPLICATE)),
            rejected=Count("id", filter=Q(outcome=UploadFile.Outcome.REJECTED)),
        )

    def _save_progress(self) -> None:
        """Counts for the progress bar, and a renewed lease, in the batch's transaction."""
        Upload.objects.filter(pk=self.upload.pk).update(
            lease_until=timezone.now() + timedelta(seconds=lease_seconds()), **self._totals()
        )

    def _delete_after_commit(self) -> None:
        for path in self._after_commit:
            try:
                default_storage.delete(path)
            except OSError:  # pragma: no cover - the file is orphaned, not harmful
                log.warning("could not delete %s", path)
        self._after_commit.clear()

    # ------------------------------------------------------------------ one file

    def _line(
        self,
        item: Item,
        outcome: str,
        reason: str = "",
        *,
        warnings=(),
        sop_uid: str = "",
        series_id: int | None = None,
    ) -> None:
        self._reported_here.add(item.name)
        self._lines.append(
            UploadFile(
                upload_id=self.upload.pk,
                source=item.source,
                name=item.name,
                size=item.size,
                outcome=outcome,
                reason=reason[:300],
                warnings=list(warnings),
                sop_instance_uid=sop_uid,
                series_id=series_id,
            )
        )

    def _ingest(self, item: Item) -> None:
        if item.data is None and item.size > self.limits["max_file_bytes"]:
            self._line(
                item,
                UploadFile.Outcome.REJECTED,
                f"file too large ({item.size} bytes; the limit is {self.limits['max_file_bytes']})",
            )
            return
        try:
            known = self._known_header(item)
            if known is not None:
                self._accept(item, known, None)
                return
            # A stored upload is read from its file, so its bytes are in memory once (as the pixel data).
            with ExitStack() as stack:
                source: bytes | File = (
                    item.data
                    if item.data is not None
                    else stack.enter_context(default_storage.open(item.source.path, "rb"))
                )
                frames = stack.enter_context(open_frames(source, name=item.name))
                self._accept(item, frames.header, frames)
        except DicomRejected as rejected:
            self._line(item, UploadFile.Outcome.REJECTED, rejected.reason)

    def _known_header(self, item: Item) -> InstanceHeader | None:
        """The header of a file read before this run (the DICOM node reads each file as it arrives);
        None: read the file here."""
        return None

    def _accept(self, item: Item, header: InstanceHeader, frames: Frames | None) -> None:
        """File one read file; `frames` None when it was read before this run (its MIP too)."""
        per_frame = item.size // max(header.number_of_frames, 1)
        if per_frame > self.limits["max_frame_bytes"]:
            several = f"{header.number_of_frames} frames of " if header.number_of_frames > 1 else ""
            raise DicomRejected(
                f"image too large ({several}{per_frame} bytes a frame; the limit is {self.limits['max_frame_bytes']})"
            )
        decoded: Iterator[np.ndarray] | None = None
        if frames is not None:
            decoded = iter(frames)
            decoded = itertools.chain([next(decoded)], decoded)  # the first frame decodes before acceptance
        uid = header.sop_instance_uid
        if self._foreign_study(header.study_instance_uid):
            self._line(
                item,
                UploadFile.Outcome.REJECTED,
                "this study is already filed under another donor or among the centre's unmatched studies; "
                "it cannot be added to this donor too (a radiologist attaches an unmatched study)",
                sop_uid=uid,
            )
            return
        if uid in self.known_sops:
            self._line(
                item,
                UploadFile.Outcome.DUPLICATE,
                "already stored (same SOP Instance UID)",
                sop_uid=uid,
                series_id=self.known_sops[uid],
            )
            return
        notes = header_warnings(header)
        study = self._study(header)
        series = self._series(study, header)
        self._check_identity(study, header)
        try:
            planes = frame_geometries(header)
        except MissingGeometry:
            planes = []
        if not self._add_to_mip(series, header, decoded, planes):
            raise DicomRejected("pixel data could not be decoded", item.name)
        multi = header.number_of_frames > 1
        path = self._store(item, uid, item.data)
        self._instances.append(
            Instance(  # ids rather than objects: nothing here follows the relations
                series_id=series.pk,
                donor_id=self.donor.pk if self.donor else None,
                upload_id=self.upload.pk,
                sop_instance_uid=uid,
                sop_class_uid=header.sop_class_uid,
                instance_number=header.instance_number,
                rows=header.rows,
                columns=header.columns,
                frames=header.number_of_frames,
                position=list(header.image_position) if header.image_position else None,
                frame_positions=[list(g.position) for g in planes] if multi and planes else None,
                frame_order=frame_order(planes) if multi and planes else None,
                orientation=list(header.image_orientation) if header.image_orientation else None,
                pixel_spacing=list(header.pixel_spacing) if header.pixel_spacing else None,
                slice_thickness=header.slice_thickness,
                window=[header.window_center, header.window_width] if header.window_width else None,
                transfer_syntax=header.transfer_syntax_uid,
                file=path,
                file_size=item.size,
            )
        )
        self._line(item, UploadFile.Outcome.ACCEPTED, warnings=notes, sop_uid=uid, series_id=series.pk)
        if item.data is None:
            self._kept_sources.add(item.source.pk)
        self.known_sops[uid] = series.pk
        self.series_warnings.setdefault(series.pk, set()).update(notes)

    def _store(self, item: Item, uid: str, data: bytes | None) -> str:
        if data is None:
            return item.source.path  # the raw upload, already under the donor's folder, is kept as it is
        name = f"{self.upload.folder}/{item.source.index:05d}-{uid}.dcm"
        if default_storage.exists(name):  # written by a run that died before committing
            default_storage.delete(name)
        return default_storage.save(name, ContentFile(item.data))

    def _foreign_study(self, study_uid: str) -> bool:
        if study_uid in self.studies:
            return False
        if study_uid not in self.foreign_studies:
            self.foreign_studies[study_uid] = (
                Study.objects.filter(study_instance_uid=study_uid)
                .exclude(pk__in=self._own(Study.objects.filter(donor=self.donor)).values("pk"))
                .exists()
            )
        return self.foreign_studies[study_uid]

    def _study(self, header) -> Study:
        study = self.studies.get(header.study_instance_uid)
        if study is None:
            study, _ = self._own(Study.objects).get_or_create(
                donor=self.donor,
                study_instance_uid=header.study_instance_uid,
                defaults={
                    "centre_id": self.centre_id,
                    "identity_state": Study.Identity.MATCHED if self.donor else Study.Identity.DETACHED,
                    "identity_warning": "" if self.donor else _unmatched_note(header.patient_id),
                    "description": header.study_description[:200],
                    "study_date": header.study_date,
                    "patient_id": header.patient_id[:64],
                    "patient_name": header.patient_name[:200],
                },
            )
            self.studies[header.study_instance_uid] = study
        return study

    def _series(self, study: Study, header) -> Series:
        key = (study.pk, header.series_instance_uid)
        series = self.series.get(key)
        if series is None:
            mrcp, reasons = looks_like_mrcp(header)
            series, _ = Series.objects.get_or_create(
                study=study,
                series_instance_uid=header.series_instance_uid,
                defaults={
                    "series_number": header.series_number,
                    "description": header.series_description[:200],
                    "protocol": header.protocol_name[:200],
                    "modality": header.modality[:16],
                    "echo_time": header.echo_time,
                    "acquisition": header.mr_acquisition_type[:4],
                    "is_mrcp": mrcp,
                    "mrcp_reasons": reasons,
                    "rows": header.rows,
                    "columns": header.columns,
                    "pixel_spacing": list(header.pixel_spacing) if header.pixel_spacing else None,
                },
            )
            self.series[key] = series
        return series

    def _check_identity(self, study: Study, header) -> None:
        key = (study.pk, header.patient_id, header.patient_name)
        if key in self.identities_checked or self.donor is None:
            return  # an unmatched study is checked when a radiologist attaches it
        self.identities_checked.add(key)
        problems = identity_problems(
            patient_id=header.patient_id,
            patient_name=header.patient_name,
            mrn=self.donor.mrn,
            given_name=self.donor.given_name,
            family_name=self.donor.family_name,
        )
        study = Study.objects.select_for_update().get(pk=study.pk)
        known = [line for line in study.identity_warning.splitlines() if line]
        new = [p for p in problems if p not in known]
        if not new:
            return
        study.identity_warning = "\n".join(known + new)
        study.identity_state = Study.Identity.UNRESOLVED  # a new mismatch needs a new look
        study.identity_reason = ""
        study.identity_acknowledged_by = None
        study.identity_acknowledged_at = None
        study.save()
        self.studies[study.study_instance_uid] = study
        self.identity_notes.extend(new)

    def _add_to_mip(self, series: Series, header, frames: Iterator[np.ndarray] | None, planes) -> bool:
        """Feed the in-memory MIP of an MRCP series, so rendering need not read the files again.

        Every frame is a slice, added one at a time. False when a frame after the first could not
        be decoded: the file is refused, and the series' MIP is left to rendering. `frames` None:
        the file was read before this run and is not decoded here (rendering reads it).
        """
        if series.pk in self.broken_mips or not series.used_as_mrcp:
            return True
        if frames is None:
            self._break_mip(series)
            return True
        if len(planes) != header.number_of_frames:
            self._break_mip(series)
            return True
        builder, keys = self.mips.setdefault(series.pk, (IncrementalMip(), []))
        try:
            for frame, pixels in enumerate(frames):
                builder.add(pixels, planes[frame])
                keys.append((header.sop_instance_uid, frame))
        except ValueError:
            self._break_mip(series)
        except DicomRejected:
            self._break_mip(series)
            return False
        return True

    def _break_mip(self, series: Series) -> None:
        self.mips.pop(series.pk, None)
        self.broken_mips.add(series.pk)

    # ------------------------------------------------------------------ the end

    def _finish(self, *, channel: str) -> Upload:
        """The last batch: place its slices among those stored, write it, count, mark done, audit.

        Placing the new slices before they are written spares re-reading and updating them.
        """
        upload = Upload.objects.select_for_update(of=("self",)).select_related("donor").get(pk=self.upload.pk)
        adding: dict[int, list[Instance]] = {}
        for instance in self._instances:
            adding.setdefault(instance.series_id, []).append(instance)
        series_ids = set(adding) | self._series_with_accepted_files()
        all_series = list(
            Series.objects.select_for_update(of=("self",))
            .select_related("study")
            .filter(pk__in=series_ids)
            .order_by("pk")
        )
        placed = {series.pk: self._order(series, adding.get(series.pk, ())) for series in all_series}
        if not self._flush():  # some became duplicates: order what was really stored
            placed = {series.pk: self._order(series) for series in all_series}
            series_ids = self._series_with_accepted_files()
        self.finished_series = [(series, placed[series.pk]) for series in all_series if series.pk in series_ids]
        totals = self._totals()
        for key, value in totals.items():
            setattr(upload, key, value)
        upload.state, upload.error = final_state(upload.accepted, upload.duplicates, upload.rejected)
        upload.finished_at = timezone.now()
        upload.lease_until = None
        upload.save()
        summary = (
            f"{'imported' if upload.state == Upload.State.DONE else 'refused'} DICOM upload {upload.pk}: "
            f"{upload.accepted} accepted, {upload.duplicates} already stored, {upload.rejected} rejected"
        )
        if self.identity_notes:
            summary += "; identity warning: " + "; ".join(self.identity_notes)
        record_event(
            actor=None,
            kind=AuditEvent.Kind.CREATE,
            record=upload,
            donor=self.donor,
            centre_id=upload.centre_id,
            channel=channel,
            summary=summary,
            changes=totals | {"series": sorted(series_ids), "identity": self.identity_notes},
        )
        return upload

    def _series_with_accepted_files(self) -> set[int]:
        """The series this upload's written report lines say it added to."""
        return set(
            UploadFile.objects.filter(
                upload=self.upload, outcome=UploadFile.Outcome.ACCEPTED, series__isnull=False
            ).values_list("series_id", flat=True)
        )

    def _order(self, series: Series, adding=()) -> list[Instance]:
        return finalise_series(series, extra_warnings=self.series_warnings.get(series.pk, set()), adding=adding)


def run_ingest(
    *,
    upload_id: int,
    time_budget: float | None = None,
    channel: str = "worker",
    start: Callable[..., IngestRun] = IngestRun,
) -> Result:
    """Import the upload; `start(upload, deadline=...)` makes the run (a subclass may know files already)."""
    claimed = claim(upload_id)
    if isinstance(claimed, str):
        return Result(claimed)
    deadline = time.monotonic() + time_budget if time_budget else None
    run = start(claimed, deadline=deadline)
    try:
        upload = run.execute(channel=channel)
    except BaseException:
        release(upload_id)
        raise
    if upload is None:
        release(upload_id)
        return Result(MORE, claimed)
    mips = {series_id: entry for series_id, entry in run.mips.items() if series_id not in run.broken_mips}
    return Result(DONE, upload, [(series, slices, mips.get(series.pk)) for series, slices in run.finished_series])


def _unmatched_note(patient_id: str) -> str:
    return (
        f"received for the centre; Patient ID {patient_id!r} names no single donor of the centre"
        if patient_id
        else "received for the centre without a Patient ID"
    )


def final_state(accepted: int, duplicates: int, rejected: int) -> tuple[str, str]:
    """How a finished import ends: imported when any file is now stored (new or already there),
    failed when every file was refused or none was found, with the reason a coordinator reads."""
    if accepted or duplicates:
        return Upload.State.DONE, ""
    if rejected:
        files = "the file was" if rejected == 1 else f"all {rejected} files were"
        return Upload.State.FAILED, f"nothing imported: {files} refused (the reasons are listed per file)"
    return Upload.State.FAILED, "nothing imported: the upload held no file to read"


def fail_upload(*, upload_id: int, reason: str) -> None:
    """Stop an upload for good with a reason a coordinator understands; imported files are kept."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None or upload.finished:
            return
        changes = {"state": [upload.state, Upload.State.FAILED.value], "error": [upload.error, reason[:300]]}
        upload.state = Upload.State.FAILED
        upload.error = reason[:300]
        upload.lease_until = None
        upload.finished_at = timezone.now()
        upload.save()
        record_event(
            actor=None,
            kind=AuditEvent.Kind.UPDATE,
            record=upload,
            donor=upload.donor,
            centre_id=upload.centre_id,
            channel="worker",
            summary=f"DICOM upload {upload.pk} stopped: {reason}"[:300],
            changes=changes,
        )
