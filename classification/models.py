"""Biliary anatomy annotations, their classification runs, and surgical outcomes."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from core.text import counted
from donors.models import Donor, User

from .outcomes import TECHNIQUE_COUNTS


class Annotation(models.Model):
    """The donor's biliary anatomy as a radiologist recorded it (one per donor; history keeps
    every revision). Results count as the centre's only once the radiologist marks it final."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        FINAL = "final", "Final"

    class Classification(models.TextChoices):
        PENDING = "pending", "Classifying"
        DONE = "done", "Classified"
        FAILED = "failed", "Failed"

    donor = models.OneToOneField(Donor, on_delete=models.PROTECT, related_name="annotation")
    document = models.JSONField(help_text="The biliary-anatomy/1 document.")
    document_sha256 = models.CharField(max_length=64)
    revision = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=8, choices=State.choices, default=State.DRAFT)
    study_uid = models.CharField("MRCP study instance UID", max_length=64, blank=True)
    series_uid = models.CharField("MRCP series instance UID", max_length=64, blank=True)
    classification = models.CharField(max_length=8, choices=Classification.choices, default=Classification.PENDING)
    classification_error = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    finalised_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    finalised_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text="Which ducts were taken from a tree proposal (which one, by whom) and which were edited "
        "by hand since; a duct with no entry was drawn by hand (see classification.provenance).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()
    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved
    skip_history_when_saving: bool  # set around a save that is not a clinical change

    def __str__(self) -> str:
        return f"anatomy of {self.donor.code} r{self.revision}"


class ClassificationRun(models.Model):
    """One classification of one exact document under one rules version. Never edited: a
    changed document or new rules make a new run; old runs stay for the record."""

    annotation = models.ForeignKey(Annotation, on_delete=models.PROTECT, related_name="runs")
    revision = models.PositiveIntegerField()
    document_sha256 = models.CharField(max_length=64)
    anatomy = models.JSONField(help_text="Exactly the document that was classified.")
    rules_version = models.CharField(max_length=20)
    prediction = models.JSONField(help_text="The prediction as computed at the time of the run.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "document_sha256", "rules_version"], name="one_run_per_document_and_rules"
            )
        ]

    def __str__(self) -> str:
        return f"run of annotation {self.annotation_id} r{self.revision} ({self.rules_version})"


class ClassificationResult(models.Model):
    run = models.ForeignKey(ClassificationRun, on_delete=models.PROTECT, related_name="results")
    system = models.CharField(max_length=12)
    type = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001 - None: a needed length is missing
    rule = models.TextField()
    provisional = models.BooleanField(default=False)
    detail = models.JSONField(help_text="The system's whole result entry.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "system"], name="one_result_per_system_and_run")]

    def __str__(self) -> str:
        return f"{self.system}: {self.type} (run {self.run_id})"


class SurgicalOutcome(models.Model):
    """What surgery actually did, recorded by the surgeon (or imported from history)."""

    class Source(models.TextChoices):
        RECORDED = "recorded", "Recorded by the surgeon"
        IMPORTED = "imported", "Imported from historical records"

    donor = models.OneToOneField(Donor, on_delete=models.PROTECT, related_name="surgical_outcome")
    operated_on = models.DateField(null=True, blank=True)
    anastomoses = models.PositiveSmallIntegerField("biliary anastomoses")
    technique = models.CharField(max_length=24, blank=True, choices=[(t, t) for t in TECHNIQUE_COUNTS])
    ductoplasty = models.BooleanField(default=False)
    complications = models.TextField(blank=True)
    # The prediction this outcome is compared with, frozen when the outcome is recorded.
    proposed_type = models.CharField(max_length=1, blank=True)
    predicted_anastomoses = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.RECORDED)
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)
    history = HistoricalRecords()
    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    def __str__(self) -> str:
        return f"outcome of donor {self.donor_id}: {counted(self.anastomoses, 'anastomosis', 'anastomoses')}"

    @property
    def matched_prediction(self) -> bool | None:
        if self.predicted_anastomoses is None:
            return None
        return self.anastomoses == self.predicted_anastomoses
