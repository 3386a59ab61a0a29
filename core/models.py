"""API clients (hospital systems' tokens) and the audit trail.

Both were first defined in `donors` and keep their tables (`donors_apiclient`, `donors_auditevent`):
the move changed where the code lives, not the data.

Their relations to a user, a centre and an API client are model-level references by name
(settings.AUTH_USER_MODEL, "donors.Centre"), resolved by Django's app registry, not Python imports
of `donors`: core stays below every other app of ours. Likewise `DONOR_MODEL` names the model whose
records the trail's `donor_id` and `donor_code` point at.

`audit_record_type` is the name an event's `record_type` carries for a record of that model. Events
are append-only and auditors search them by that name, so a model that moves between apps keeps the
name it was audited under (see core.audit.record_type_of); for other models it is the model label.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper

CENTRE_MODEL = "donors.Centre"
# How an audited event reached the record, in words for the trail page.
CHANNEL_LABELS = {
    "page": "web page",
    "api": "API",
    "download": "download",
    "admin": "administration site",
    "command": "command",
    "worker": "background task",
    "dicom": "DICOM node",
    "dicomweb": "DICOMweb",
}
DONOR_MODEL = "donors.Donor"


class ApiClient(models.Model):
    """A hospital system's credential: a hashed token bound to a centre through its service user."""

    audit_record_type = "donors.ApiClient"

    name = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_clients")
    key_prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "donors_apiclient"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def centre(self):
        return self.user.centre


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: D401 - the trail is append-only
        raise PermissionError("audit events are append-only")

    def delete(self):
        raise PermissionError("audit events are append-only")


class AuditEvent(models.Model):
    """Append-only record of every read and write of a donor's record."""

    audit_record_type = "donors.AuditEvent"

    class Kind(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        READ = "read", "Read"
        LIST = "list", "List"
        DOWNLOAD = "download", "Download"
        TRANSITION = "transition", "Status change"
        DENIED = "denied", "Refused"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Searched by (user, at), (donor_id, at) and (upper(donor_code), at): see Meta.indexes.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    api_client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    centre = models.ForeignKey(CENTRE_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # A refused attempt on another centre's record is filed under the prober's centre and names
    # the centre whose record it was, so that the auditors of both centres see it.
    target_centre = models.ForeignKey(
        CENTRE_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For a refused attempt: the centre whose record was asked for.",
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    record_type = models.CharField(max_length=60)
    record_id = models.CharField(max_length=40, blank=True)
    # Kept as plain values, not a foreign key, so the trail outlives any record it names.
    donor_id = models.BigIntegerField(null=True, blank=True)
    donor_code = models.CharField(max_length=40, blank=True, db_index=True)
    channel = models.CharField(max_length=10, help_text="page, api, download, admin, command or worker")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "donors_auditevent"
        ordering = ["-at", "-id"]
        # The auditor's searches at ten million events (bench/audit_scale.py): each filter of the
        # audit trail page, newest first, read from one index without sorting the matches.
        indexes = [
            models.Index(fields=["centre", "-at"], name="donors_audi_centre__e6faf7_idx"),
            models.Index(fields=["user", "-at"], name="audit_user_at_idx"),
            models.Index(fields=["kind", "-at"], name="audit_kind_at_idx"),
            # Covering: the search's bounded count reads the index alone (core 0003).
            models.Index(
                Upper("donor_code"),
                F("at").desc(),
                F("id").desc(),
                include=["donor_code", "centre", "target_centre"],
                name="audit_donor_code_cover_idx",
            ),
            models.Index(fields=["donor_id", "-at"], name="audit_donor_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.record_type} {self.record_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")

    @property
    def alert(self) -> str:
        """A word for the events an auditor looks at first: a refused attempt, a failed login, or a
        login locked out after repeated failures (empty for every other event)."""
        if self.kind != self.Kind.DENIED:
            return ""
        if isinstance(self.changes, dict) and "failures" in self.changes:
            return "Failed logins"
        if isinstance(self.changes, dict) and self.changes.get("login") == "failed":
            return "Failed login"
        return "Refused"

    @property
    def record_label(self) -> str:
        """The kind of record in words: "workup.DecisionSignOff" -> "decision sign off"."""
        name = self.record_type.rpartition(".")[2]
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def change_lines(self) -> list[str]:
        """The changes as lines for the trail page: "field: old -> new" for the fields a change or a
        status change altered, "key: value" for anything else recorded with the event."""
        if not isinstance(self.changes, dict):
            return []
        altering = self.kind in (self.Kind.UPDATE, self.Kind.TRANSITION)
        lines = []
        for field, value in self.changes.items():
            if altering and isinstance(value, list) and len(value) == 2:
                old, new = ("-" if v is None else v for v in value)
                lines.append(f"{field}: {old} -> {new}")
            else:
                lines.append(f"{field}: {value}")
        return lines
