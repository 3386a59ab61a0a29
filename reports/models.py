"""Issued suitability reports: one frozen version per issue, with its PDF in storage."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from classification.models import Annotation
from donors.models import Centre, Donor, User

# Once a version is issued only its PDF bookkeeping may change; the content never does.
PDF_FIELDS = frozenset({"pdf", "pdf_sha256", "pdf_state", "pdf_error", "pdf_attempts", "pdf_rendered_at"})
# Donors created by the outcome import are known only by their code: these placeholders say so wherever
# they show (the import writes them, the report recognises them).
IMPORTED_MRN = "IMPORTED"
IMPORTED_GIVEN_NAME = "Imported"


def validate_ae_title(value: str) -> None:
    """An AE title: 1 to 16 characters of the default repertoire, no backslash, not only spaces."""
    if not value.strip() or len(value) > 16 or "\\" in value or not all(" " <= c <= "~" for c in value):
        raise ValidationError("an AE title is 1 to 16 printable ASCII characters without a backslash")


def pdf_upload_to(version: ReportVersion, filename: str) -> str:
    return f"reports/donor-{version.donor_id}/{filename}"


class ReportVersion(models.Model):
    """A suitability report as issued: the content dict frozen at issue time (inputs, rules
    version, wording), its hash, who issued it and the PDF rendered from exactly that content.

    Later changes to the donor never alter an issued version; issuing again makes a new one.
    """

    class PdfState(models.TextChoices):
        PENDING = "pending", "Being rendered"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    donor = models.ForeignKey(Donor, on_delete=models.PROTECT, related_name="report_versions")
    number = models.PositiveIntegerField(help_text="1 for the first report issued for the donor, then 2, 3...")
    content = models.JSONField(help_text="The report as issued: every value shown, the rules and thresholds used.")
    content_sha256 = models.CharField(max_length=64)
    rules_version = models.CharField(max_length=20)
    annotation_revision = models.PositiveIntegerField()
    mip_path = models.CharField(
        max_length=300, blank=True, help_text="The MRCP MIP image as issued (a copy in storage), if there was one."
    )
    issued_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField()
    pdf = models.FileField(upload_to=pdf_upload_to, max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_state = models.CharField(max_length=8, choices=PdfState.choices, default=PdfState.PENDING)
    pdf_error = models.CharField(max_length=300, blank=True)
    pdf_attempts = models.PositiveSmallIntegerField(default=0)
    pdf_rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["donor_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["donor", "number"], name="one_report_version_number_per_donor")]

    def __str__(self) -> str:
        return f"report {self.number} of donor {self.donor_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            fields = kwargs.get("update_fields")
            if fields is None or not set(fields) <= PDF_FIELDS:
                raise PermissionError("an issued report never changes; issue a new version instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("issued reports are kept")


class PacsDestination(models.Model):
    """Where a centre's issued reports go: its PACS, reached by C-STORE. Set in the admin."""

    centre = models.OneToOneField(Centre, on_delete=models.PROTECT, related_name="pacs_destination")
    ae_title = models.CharField(
        "called AE title", max_length=16, validators=[validate_ae_title], help_text="The PACS's AE title."
    )
    host = models.CharField(max_length=255, help_text="Host name or address of the PACS.")
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    enabled = models.BooleanField(default=True, help_text="Untick to stop sending without losing the settings.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "PACS destination"

    def __str__(self) -> str:
        return f"{self.ae_title} at {self.host}:{self.port}"


class PacsSend(models.Model):
    """One "send to PACS" of an issued report version (its SR and PDF) or of a final anatomy revision (its SR
    alone): what was sent where, by whom, and how it went."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    version = models.ForeignKey(
        ReportVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="pacs_sends"
    )
    annotation = models.ForeignKey(
        Annotation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pacs_sends",
        help_text="The anatomy whose SR was sent on its own, before any report.",
    )
    annotation_revision = models.PositiveIntegerField(
        null=True, blank=True, help_text="The final anatomy revision asked to be sent."
    )
    destination = models.CharField(max_length=300, help_text="AE title, host and port as they were when sent.")
    ae_title = models.CharField(max_length=16)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    instances = models.JSONField(
        default=list, blank=True, help_text="What was stored: [{what, sop_class_uid, sop_instance_uid}]."
    )
    study_instance_uid = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text="Why something was not sent (e.g. no SR).")
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = "PACS send"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(version__isnull=False, annotation__isnull=True, annotation_revision__isnull=True)
                    | models.Q(version__isnull=True, annotation__isnull=False, annotation_revision__isnull=False)
                ),
                name="pacs_send_of_a_report_or_an_anatomy",
            )
        ]

    def __str__(self) -> str:
        return f"send of {self.subject} to {self.destination}: {self.state}"

    @property
    def subject(self) -> str:
        """What was sent, in words: "suitability report version 2" or "the biliary anatomy (revision 3)"."""
        if self.version is not None:
            return f"suitability report version {self.version.number}"
        return f"the biliary anatomy (revision {self.annotation_revision})"

    @property
    def donor(self) -> Donor:
        if self.version is not None:
            return self.version.donor
        assert self.annotation is not None  # the check constraint: a report's send or an anatomy's
        return self.annotation.donor

    @property
    def finished(self) -> bool:
        return self.state in (self.State.SENT, self.State.FAILED)
