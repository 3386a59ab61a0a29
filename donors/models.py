"""Centres, users, donors, recipients and status history (API clients and the audit trail are in core)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from core.roles import Role

from . import measures
from .workflow import Status


class AboGroup(models.TextChoices):
    O = "O", "O"  # noqa: E741 - the blood group's name
    A = "A", "A"
    B = "B", "B"
    AB = "AB", "AB"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"


class Graft(models.TextChoices):
    RIGHT_LOBE = "right_lobe", "Right lobe (segments 5-8)"
    LEFT_LOBE = "left_lobe", "Left lobe (segments 2-4)"
    LEFT_LATERAL_SEGMENT = "left_lateral_segment", "Left lateral segment (segments 2-3)"


class Relationship(models.TextChoices):
    PARENT = "parent", "Parent"
    CHILD = "child", "Child"
    SIBLING = "sibling", "Sibling"
    SPOUSE = "spouse", "Spouse or partner"
    OTHER_RELATIVE = "other_relative", "Other relative"
    UNRELATED = "unrelated", "Unrelated (emotionally related or altruistic)"


class Diagnosis(models.TextChoices):
    PRIMARY_SCLEROSING_CHOLANGITIS = "primary_sclerosing_cholangitis", "Primary sclerosing cholangitis"
    BILIARY_ATRESIA = "biliary_atresia", "Biliary atresia"
    HEPATOCELLULAR_CARCINOMA = "hepatocellular_carcinoma", "Hepatocellular carcinoma"
    VIRAL_HEPATITIS = "viral_hepatitis", "Viral hepatitis cirrhosis"
    ALCOHOL_RELATED = "alcohol_related", "Alcohol-related liver disease"
    METABOLIC_STEATOHEPATITIS = "metabolic_steatohepatitis", "Metabolic dysfunction-associated steatohepatitis"
    PRIMARY_BILIARY_CHOLANGITIS = "primary_biliary_cholangitis", "Primary biliary cholangitis"
    ACUTE_LIVER_FAILURE = "acute_liver_failure", "Acute liver failure"
    METABOLIC_DISEASE = "metabolic_disease", "Inherited metabolic disease"
    OTHER = "other", "Other"


class Centre(models.Model):
    name = models.CharField(max_length=120, unique=True)
    code = models.SlugField(max_length=20, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person (or a hospital system's service account) working for one centre."""

    centre = models.ForeignKey(Centre, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    roles = models.JSONField(default=list, blank=True, help_text="Any of: " + ", ".join(r.value for r in Role))
    is_centre_admin = models.BooleanField(
        default=False, help_text="May change the centre's settings, such as the workup thresholds."
    )

    def clean(self) -> None:
        super().clean()
        if not isinstance(self.roles, list) or any(r not in set(Role) for r in self.roles):
            raise ValidationError({"roles": "roles must be a list of: " + ", ".join(r.value for r in Role)})

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(Role(r) for r in self.roles if r in set(Role))


class Recipient(models.Model):
    """The patient who will receive the graft. Paediatric is derived from the age."""

    PAEDIATRIC_BELOW_AGE = 18

    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="recipients")
    code = models.CharField(max_length=40, help_text="Pseudonymous recipient code, unique within the centre.")
    age_years = models.PositiveSmallIntegerField()
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    abo = models.CharField("ABO group", max_length=2, choices=AboGroup.choices)
    diagnosis = models.CharField(max_length=40, choices=Diagnosis.choices)
    diagnosis_detail = models.CharField(max_length=200, blank=True)
    own_duct_usable = models.BooleanField(
        "own bile duct usable",
        help_text="No for primary sclerosing cholangitis, biliary atresia and small children: "
        "the graft then drains into a Roux-en-Y limb.",
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()
    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["centre", "code"], name="recipient_code_unique_in_centre")]

    def __str__(self) -> str:
        return self.code

    @property
    def paediatric(self) -> bool:
        return self.age_years < self.PAEDIATRIC_BELOW_AGE


class Donor(models.Model):
    centre = models.ForeignKey(Centre, on_delete=models.PROTECT, related_name="donors")
    code = models.CharField(max_length=40, help_text="Pseudonymous donor code, unique within the centre.")
    mrn = models.CharField("medical record number", max_length=40)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    # Unknown (null) only for historical donors created by the outcome import; the forms,
    # the API and the services require them for every donor entered in the app.
    date_of_birth = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=6, choices=Sex.choices)
    height_cm = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    weight_kg = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    abo = models.CharField("ABO group", max_length=2, choices=AboGroup.choices)
    relationship = models.CharField("relationship to the recipient", max_length=20, choices=Relationship.choices)
    planned_graft = models.CharField(max_length=24, choices=Graft.choices)
    status = models.CharField(max_length=24, choices=[(s.value, s.label) for s in Status], default=Status.CANDIDATE)
    recipient = models.ForeignKey(Recipient, null=True, blank=True, on_delete=models.PROTECT, related_name="donors")
    version = models.PositiveIntegerField(default=1, help_text="Raised by every change; a stale edit is refused.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()
    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["centre", "code"], name="donor_code_unique_in_centre")]
        indexes = [models.Index(fields=["centre", "status"]), models.Index(fields=["centre", "mrn"])]

    def __str__(self) -> str:
        return self.code

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def bmi(self) -> Decimal | None:
        return self.bmi_for(height_cm=self.height_cm, weight_kg=self.weight_kg)

    @staticmethod
    def bmi_for(*, height_cm, weight_kg) -> Decimal | None:
        """BMI to one decimal, derived on every read so it is never stored twice."""
        if not height_cm or not weight_kg:
            return None
        return round(Decimal(str(measures.bmi(float(weight_kg), float(height_cm)))), 1)

    def age_on(self, day: datetime.date) -> int | None:
        born = self.date_of_birth
        if born is None:
            return None
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    @property
    def age_years(self) -> int | None:
        return self.age_on(datetime.date.today())


class StatusChange(models.Model):
    """Append-only: who moved the donor from which status to which, when and why."""

    donor = models.ForeignKey(Donor, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=24)
    to_status = models.CharField(max_length=24)
    reason = models.TextField()
    changed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"

    @property
    def from_label(self) -> str:
        return Status(self.from_status).label

    @property
    def to_label(self) -> str:
        return Status(self.to_status).label
