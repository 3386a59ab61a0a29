"""MRCP studies: uploads and their per-file report, studies, series, instances, measurements.

Files (the DICOM instances, rendered MIPs and thumbnails) live in Django's default storage
under a donor-specific folder and leave the server only through permission-checked views.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from core.models import CHANNEL_LABELS
from donors.models import Centre, Donor, User


def donor_folder(donor_id: int) -> str:
    return f"imaging/donor-{donor_id}"


def unmatched_folder(centre_id: int) -> str:
    """Where the files of studies received for a centre but matched to no donor are kept."""
    return f"imaging/centre-{centre_id}/unmatched"


class Upload(models.Model):
    """One delivery of files (a browser upload, an API call, the import command or a DICOM association).

    A study received by the DICOM node whose Patient ID names no single donor of the centre
    arrives in an upload without a donor: its studies wait among the centre's unmatched studies."""

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="image_uploads")
    donor = models.ForeignKey(
        Donor,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="image_uploads",
        help_text="Empty for studies received for the centre that name no single donor (unmatched studies).",
    )
    uploaded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=10, default="page", help_text="page, api, command or dicom")
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.CharField(max_length=300, blank=True, help_text="Why the import stopped, when it failed.")
    received_files = models.PositiveIntegerField(default=0, help_text="Files in the request (a zip counts once).")
    received_bytes = models.BigIntegerField(default=0)
    expected_files = models.PositiveIntegerField(default=0, help_text="DICOM files to read (zip members counted).")
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="While set and in the future, a worker is importing this upload."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"upload {self.pk} for {self.donor_id or 'unmatched studies'}"

    def save(self, *args, **kwargs):
        if self.centre_id is None and self.donor_id is not None:
            self.centre_id = self.donor.centre_id  # an upload for a donor is for the donor's centre
        super().save(*args, **kwargs)

    @property
    def sender(self) -> str:
        """Who sent the files, in words: the user, else the way they came (the API, the import command)."""
        if self.uploaded_by is not None:
            return self.uploaded_by.username
        return CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def folder(self) -> str:
        """Where its files are kept: under its donor, or among the centre's unmatched studies."""
        base = donor_folder(self.donor_id) if self.donor_id else unmatched_folder(self.centre_id)
        return f"{base}/upload-{self.pk}"

    @property
    def processed(self) -> int:
        return self.accepted + self.duplicates + self.rejected

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)


class UploadSource(models.Model):
    """A file as received, kept in storage until the import has read it."""

    class Kind(models.TextChoices):
        FILE = "file", "File"
        ZIP = "zip", "Zip archive"

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="sources")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.FILE)
    path = models.CharField(max_length=300, help_text="Name in the default storage.")
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["upload", "index"], name="one_source_per_index")]

    def __str__(self) -> str:
        return self.name


class UploadFile(models.Model):
    """One line of the upload's report: what happened to one DICOM file (or zip member)."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        DUPLICATE = "duplicate", "Already stored"
        REJECTED = "rejected", "Rejected"

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="files")
    source = models.ForeignKey(UploadSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=400)
    size = models.BigIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=300, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    sop_instance_uid = models.CharField(max_length=64, blank=True)
    series = models.ForeignKey("Series", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["upload", "name"], name="one_report_line_per_file")]

    def __str__(self) -> str:
        return f"{self.name}: {self.outcome}"


class Study(models.Model):
    """A DICOM study, filed under one donor, or under none (the centre's unmatched studies)."""

    class Identity(models.TextChoices):
        MATCHED = "matched", "Matches the donor"
        UNRESOLVED = "unresolved", "Identity unresolved"
        CONFIRMED = "confirmed", "Confirmed as the donor's"
        DETACHED = "detached", "Detached from the donor"

    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="studies")
    donor = models.ForeignKey(
        Donor,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="studies",
        help_text="Empty for a study detached from a donor: it waits among the centre's unmatched studies.",
    )
    study_instance_uid = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    study_date = models.CharField(max_length=8, blank=True)
    patient_id = models.CharField("patient ID in the files", max_length=64, blank=True)
    patient_name = models.CharField("patient name in the files", max_length=200, blank=True)
    identity_state = models.CharField(max_length=10, choices=Identity.choices, default=Identity.MATCHED)
    identity_warning = models.TextField(
        blank=True, help_text="The files name someone else (or no one): a radiologist must confirm or detach."
    )
    identity_reason = models.CharField(
        max_length=300, blank=True, help_text="Why the radiologist confirmed or detached the study."
    )
    identity_acknowledged_by = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who confirmed or detached the study.",
    )
    identity_acknowledged_at = models.DateTimeField(null=True, blank=True)
    detached_from = models.ForeignKey(
        Donor,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The donor the study was last detached from.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()
    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["donor", "study_instance_uid"], name="study_uid_unique_per_donor"),
            models.CheckConstraint(
                condition=(
                    models.Q(donor__isnull=True, identity_state="detached")
                    | (models.Q(donor__isnull=False) & ~models.Q(identity_state="detached"))
                ),
                name="study_detached_iff_no_donor",
            ),
        ]
        indexes = [models.Index(fields=["study_instance_uid"])]

    def __str__(self) -> str:
        return self.description or self.study_instance_uid

    @property
    def identity_open(self) -> bool:
        """The files may not be the donor's and no radiologist has confirmed or detached them yet."""
        return self.identity_state == self.Identity.UNRESOLVED

    @property
    def reportable(self) -> bool:
        """Its images may appear in the donor's report."""
        return self.donor_id is not None and self.identity_state in (self.Identity.MATCHED, self.Identity.CONFIRMED)


class Series(models.Model):
    class Render(models.TextChoices):
        PENDING = "pending", "Waiting to render"
        RENDERING = "rendering", "Rendering"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    protocol = models.CharField(max_length=200, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    echo_time = models.FloatField("echo time (ms)", null=True, blank=True)
    acquisition = models.CharField("MR acquisition type", max_length=4, blank=True)
    is_mrcp = models.BooleanField(default=False, help_text="Recognised as MRCP from its header.")
    mrcp_reasons = models.JSONField(default=list, blank=True)
    mrcp_override = models.BooleanField(
        null=True, blank=True, help_text="A radiologist's call: None follows the recognition."
    )
    mrcp_override_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    mrcp_override_at = models.DateTimeField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    slice_count = models.PositiveIntegerField(
        default=0, help_text="Slices to scroll: one per frame (an Enhanced MR file holds the whole series)."
    )
    rows = models.PositiveIntegerField(default=0)
    columns = models.PositiveIntegerField(default=0)
    pixel_spacing = models.JSONField(null=True, blank=True, help_text="[between rows, between columns] mm")
    slice_spacing = models.FloatField(null=True, blank=True)
    orientation = models.CharField(max_length=20, blank=True, help_text="coronal, axial, sagittal or oblique")
    slice_window = models.JSONField(null=True, blank=True, help_text="[center, width] for the slices")
    mip_window = models.JSONField(null=True, blank=True, help_text="[center, width] for the MIP")
    mip_shape = models.JSONField(null=True, blank=True, help_text="[rows, columns] of the MIP array")
    mip_spacing = models.JSONField(null=True, blank=True)
    mip_path = models.CharField(max_length=300, blank=True)
    mip_data_path = models.CharField(max_length=300, blank=True)
    thumbnail_path = models.CharField(max_length=300, blank=True)
    render_state = models.CharField(max_length=10, choices=Render.choices, default=Render.PENDING)
    render_error = models.CharField(max_length=300, blank=True)
    rendered_instances = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()
    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved
    skip_history_when_saving: bool  # set while saving a change that is not a clinical one

    class Meta:
        ordering = ["series_number", "id"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(fields=["study", "series_instance_uid"], name="series_uid_unique_per_study"),
        ]

    def __str__(self) -> str:
        return self.description or self.series_instance_uid

    @property
    def used_as_mrcp(self) -> bool:
        """The radiologist's override when given, else the recognition; never for non-MR."""
        if self.modality != "MR":
            return False
        return self.mrcp_override if self.mrcp_override is not None else self.is_mrcp


class Instance(models.Model):
    """One stored DICOM file. Never edited: a changed file is a new instance."""

    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="instances")
    donor = models.ForeignKey(
        Donor,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The donor of the series' study; empty while the study is detached.",
    )
    upload = models.ForeignKey(Upload, null=True, blank=True, on_delete=models.SET_NULL, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    slice_index = models.PositiveIntegerField(
        default=0, help_text="Place in the series, ordered along the normal (of its first slice, for several frames)."
    )
    depth = models.FloatField(null=True, blank=True, help_text="Position along the series' slice normal (mm).")
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    frames = models.PositiveIntegerField(default=1)
    position = models.JSONField(null=True, blank=True, help_text="ImagePositionPatient (mm), of the first frame")
    frame_positions = models.JSONField(
        null=True, blank=True, help_text="A multi-frame image's ImagePositionPatient of each frame (mm), in file order."
    )
    frame_order = models.JSONField(
        null=True,
        blank=True,
        help_text="A multi-frame image's frames (0-based, in file order) in slice order along the normal; "
        "its slices are slice_index, slice_index + 1...",
    )
    orientation = models.JSONField(null=True, blank=True, help_text="ImageOrientationPatient")
    pixel_spacing = models.JSONField(null=True, blank=True, help_text="[between rows, between columns] mm")
    slice_thickness = models.FloatField(null=True, blank=True)
    window = models.JSONField(null=True, blank=True, help_text="[center, width] from the file")
    transfer_syntax = models.CharField(max_length=64, blank=True)
    file = models.CharField(max_length=300, help_text="Name in the default storage.")
    file_size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slice_index", "id"]
        constraints = [
            models.UniqueConstraint(fields=["donor", "sop_instance_uid"], name="sop_uid_unique_per_donor"),
        ]
        indexes = [models.Index(fields=["series", "slice_index"])]

    def __str__(self) -> str:
        return self.sop_instance_uid

    @property
    def has_geometry(self) -> bool:
        """Whether the slice can be placed in 3D (ordered, projected); measuring also needs pixel_spacing.

        A multi-frame image needs a position for each frame."""
        if self.frames > 1:
            return bool(self.frame_positions and self.orientation and len(self.frame_positions) == self.frames)
        return bool(self.position and self.orientation)

    def slice_frames(self) -> list[int]:
        """Its frames (0-based, in file order) in slice order: its slices are slice_index onwards."""
        order = self.frame_order
        return list(order) if order and len(order) == self.frames else list(range(self.frames))


class Measurement(models.Model):
    """A distance between two points clicked on a series, computed in patient space."""

    class Kind(models.TextChoices):
        SLICES = "slices", "On the slices"
        MIP = "mip", "On the MIP"

    donor = models.ForeignKey(Donor, on_delete=models.PROTECT, related_name="image_measurements")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="measurements")
    kind = models.CharField(max_length=6, choices=Kind.choices)
    points = models.JSONField(help_text="The two points as clicked: {slice, row, col} or {row, col} on the MIP.")
    patient_points = models.JSONField(help_text="The two points in patient coordinates (mm).")
    length_mm = models.FloatField()
    label = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()
    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label or 'measurement'} {self.length_mm:.1f} mm"


class DicomPeer(models.Model):
    """A system allowed to send studies to the DICOM node: its calling AE title, for one centre.

    An association from an AE title not registered here (or from another host than the one
    registered) is refused."""

    ae_title = models.CharField("calling AE title", max_length=16, unique=True)
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="dicom_peers")
    host = models.CharField(
        max_length=255, blank=True, help_text="The address it must call from; empty accepts any address."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ae_title"]
        verbose_name = "DICOM peer"

    def __str__(self) -> str:
        return self.ae_title


class TreeProposal(models.Model):
    """The duct tree the app proposes from a 3D MRCP series for a graft (`imaging.tree`).

    A proposal is never the anatomy: a radiologist takes it (whole or duct by duct) into the
    draft, edits it and marks the anatomy final. One proposal per series and graft is current;
    a request for a new one keeps the old ones for the record."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Proposing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="tree_proposals")
    graft = models.CharField(max_length=24, help_text="The graft the ducts were named for (the donor's planned one).")
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    reason = models.CharField(max_length=300, blank=True, help_text="Why no tree was proposed, when it failed.")
    document = models.JSONField(null=True, blank=True, help_text="The proposed biliary-anatomy/1 document.")
    duct_confidence = models.JSONField(default=dict, blank=True, help_text="0-1 by duct id.")
    junction_confidence = models.JSONField(
        default=dict, blank=True, help_text="0-1 by the id of the duct that joins there."
    )
    centrelines = models.JSONField(
        default=dict, blank=True, help_text="By duct id: points in patient coordinates (mm, DICOM LPS)."
    )
    extractor_version = models.CharField(max_length=40, blank=True)
    current = models.BooleanField(default=True)
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: on ingest."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "graft"], condition=models.Q(current=True), name="one_current_tree_proposal"
            )
        ]

    def __str__(self) -> str:
        return f"tree proposal {self.pk} of series {self.series_id} ({self.state})"
