"""The clinical records of a donor's workup, the centre's thresholds and the team's decision.

Every record belongs to a donor (and so to the donor's centre), carries the date of the
examination, who entered it and when, and keeps its history. Records are never edited: a new
record of the same kind supersedes the previous one, which stays on file; the latest counts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from core.roles import Role
from donors.models import User
from donors.workflow import Status

from . import criteria

__all__ = [
    "LabResult",
    "Volumetry",
    "SteatosisAssessment",
    "SteatosisModality",
    "HepaticArteryAnatomy",
    "MichelsType",
    "Segment4Origin",
    "PortalVeinAnatomy",
    "PortalScheme",
    "HepaticVeinAnatomy",
    "Clearance",
    "ClearanceKind",
    "ClearanceStatus",
    "CentreThresholds",
    "Decision",
    "DecisionOutcome",
    "DecisionState",
    "DecisionSignOff",
    "SIGNING_ROLES",
]


class WorkupRecord(models.Model):
    """What every workup record shares: its donor, date, author and note.

    The workup's tables keep the names they had when these models lived in `donors` (db_table and
    the history's table_name), so moving the code moved no data."""

    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="+")
    measured_on = models.DateField("date", help_text="Date of the examination, sample or evaluation.")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} {self.pk} of donor {self.donor_id} ({self.measured_on})"


class LabResult(WorkupRecord):
    """Blood tests and serology (hepatologist)."""

    audit_record_type = "donors.LabResult"  # audited under this name since before the workup app

    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="lab_results")
    ast = models.DecimalField("AST (U/L)", max_digits=7, decimal_places=1, null=True, blank=True)
    ast_uln = models.DecimalField(
        "AST upper limit of normal (U/L)",
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="The laboratory's upper limit; APRI is computed with it.",
    )
    alt = models.DecimalField("ALT (U/L)", max_digits=7, decimal_places=1, null=True, blank=True)
    alt_uln = models.DecimalField(
        "ALT upper limit of normal (U/L)", max_digits=6, decimal_places=1, null=True, blank=True
    )
    platelets = models.DecimalField("platelets (×10⁹/L)", max_digits=6, decimal_places=1, null=True, blank=True)
    bilirubin_mg_dl = models.DecimalField(
        "total bilirubin (mg/dL)", max_digits=5, decimal_places=2, null=True, blank=True
    )
    albumin_g_dl = models.DecimalField("albumin (g/dL)", max_digits=4, decimal_places=2, null=True, blank=True)
    inr = models.DecimalField("INR", max_digits=4, decimal_places=2, null=True, blank=True)
    creatinine_mg_dl = models.DecimalField("creatinine (mg/dL)", max_digits=5, decimal_places=2, null=True, blank=True)
    serology = models.TextField(
        "serology summary", blank=True, help_text="For example HBsAg, anti-HBc, anti-HCV, HIV, CMV, EBV results."
    )
    history = HistoricalRecords(table_name="donors_historicallabresult")

    class Meta(WorkupRecord.Meta):
        db_table = "donors_labresult"
        verbose_name = "laboratory result"


class Volumetry(WorkupRecord):
    """CT volumetry and the recipient's weight for the GRWR (radiologist)."""

    audit_record_type = "donors.Volumetry"  # audited under this name since before the workup app

    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="volumetries")
    total_liver_volume_ml = models.DecimalField("total liver volume (mL)", max_digits=6, decimal_places=1)
    graft_volume_ml = models.DecimalField("graft volume (mL)", max_digits=6, decimal_places=1)
    graft_includes_mhv = models.BooleanField(
        "graft volume includes the middle hepatic vein",
        default=False,
        help_text="Whether the graft volume was measured with the middle hepatic vein.",
    )
    remnant_volume_ml = models.DecimalField(
        "remnant volume (mL)",
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Leave empty to use total - graft.",
    )
    density_factor = models.DecimalField(
        "density factor (g/mL)",
        max_digits=4,
        decimal_places=3,
        help_text="Graft weight = CT volume x this factor (1.0; some centres use 0.85).",
    )
    recipient_weight_kg = models.DecimalField(
        "recipient weight (kg)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Weight used for the GRWR; empty uses the recipient's registered weight.",
    )
    recipient_height_cm = models.DecimalField(
        "recipient height (cm)",
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Needed for the recipient's standard liver volume (GV/SLV).",
    )
    history = HistoricalRecords(table_name="donors_historicalvolumetry")

    class Meta(WorkupRecord.Meta):
        db_table = "donors_volumetry"
        verbose_name = "volumetry"
        verbose_name_plural = "volumetries"


class SteatosisModality(models.TextChoices):
    BIOPSY = "biopsy", "Biopsy (macrovesicular %)"
    MRI_PDFF = "mri_pdff", "MRI proton density fat fraction"
    DUAL_ECHO = "dual_echo", "MRI dual echo (in/opposed phase)"
    CT = "ct", "Unenhanced CT (liver and spleen HU)"


class SteatosisAssessment(WorkupRecord):
    """One steatosis measurement on its own scale; the latest of each modality counts."""

    audit_record_type = "donors.SteatosisAssessment"  # audited under this name since before the workup app

    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="steatosis_assessments")
    modality = models.CharField(max_length=12, choices=SteatosisModality.choices)
    macrovesicular_pct = models.DecimalField(
        "macrovesicular steatosis (%)", max_digits=4, decimal_places=1, null=True, blank=True
    )
    pdff_pct = models.DecimalField("MRI-PDFF (%)", max_digits=4, decimal_places=1, null=True, blank=True)
    in_phase_signal = models.DecimalField("in-phase ROI signal", max_digits=9, decimal_places=2, null=True, blank=True)
    opposed_phase_signal = models.DecimalField(
        "opposed-phase ROI signal", max_digits=9, decimal_places=2, null=True, blank=True
    )
    signal_fat_fraction_pct = models.DecimalField(
        "signal fat fraction (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        editable=False,
        help_text="(in-phase - opposed-phase) / (2 x in-phase), computed by the app.",
    )
    liver_hu = models.DecimalField("liver attenuation (HU)", max_digits=5, decimal_places=1, null=True, blank=True)
    spleen_hu = models.DecimalField("spleen attenuation (HU)", max_digits=5, decimal_places=1, null=True, blank=True)
    liver_attenuation_index = models.DecimalField(
        "liver attenuation index (HU)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        editable=False,
        help_text="Liver HU - spleen HU on unenhanced CT, computed by the app.",
    )
    history = HistoricalRecords(table_name="donors_historicalsteatosisassessment")

    class Meta(WorkupRecord.Meta):
        db_table = "donors_steatosisassessment"
        verbose_name = "steatosis assessment"
        indexes = [models.Index(fields=["donor", "modality"])]


class MichelsType(models.TextChoices):
    I = "I", "Michels I (normal)"  # noqa: E741
    II = "II", "Michels II"
    III = "III", "Michels III"
    IV = "IV", "Michels IV"
    V = "V", "Michels V"
    VI = "VI", "Michels VI"
    VII = "VII", "Michels VII"
    VIII = "VIII", "Michels VIII"
    IX = "IX", "Michels IX"
    X = "X", "Michels X"
    UNCLASSIFIED = "unclassified", "Unclassified (describe)"


class Segment4Origin(models.TextChoices):
    LEFT_HEPATIC = "left_hepatic", "Left hepatic artery"
    RIGHT_HEPATIC = "right_hepatic", "Right hepatic artery"
    PROPER_HEPATIC = "proper_hepatic", "Proper hepatic artery"
    OTHER = "other", "Other"


class HepaticArteryAnatomy(WorkupRecord):
    audit_record_type = "donors.HepaticArteryAnatomy"  # audited under this name since before the workup app
    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="hepatic_artery_records")
    michels_type = models.CharField("Michels type", max_length=12, choices=MichelsType.choices)
    unclassified_description = models.TextField(
        "description of an unclassified variant", blank=True, help_text="Required when the type is unclassified."
    )
    segment4_origin = models.CharField(
        "segment 4 artery origin", max_length=16, choices=Segment4Origin.choices, blank=True
    )
    history = HistoricalRecords(table_name="donors_historicalhepaticarteryanatomy")

    class Meta(WorkupRecord.Meta):
        db_table = "donors_hepaticarteryanatomy"
        verbose_name = "hepatic artery anatomy"
        verbose_name_plural = "hepatic artery anatomy records"


class PortalScheme(models.TextChoices):
    NAKAMURA = "nakamura", "Nakamura (A-E)"
    CHENG = "cheng", "Cheng (I-IV)"


class PortalVeinAnatomy(WorkupRecord):
    """The portal vein type, always with the scheme it belongs to."""

    audit_record_type = "donors.PortalVeinAnatomy"  # audited under this name since before the workup app

    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="portal_vein_records")
    portal_scheme = models.CharField("scheme", max_length=10, choices=PortalScheme.choices)
    portal_type = models.CharField(
        "portal vein type",
        max_length=4,
        choices=[(t, f"Nakamura {t}") for t in criteria.PORTAL_SCHEMES["nakamura"]]
        + [(t, f"Cheng {t}") for t in criteria.PORTAL_SCHEMES["cheng"]],
        help_text="Nakamura A-E or Cheng I-IV, matching the scheme.",
    )
    history = HistoricalRecords(table_name="donors_historicalportalveinanatomy")

    class Meta(WorkupRecord.Meta):
        db_table = "donors_portalveinanatomy"
        verbose_name = "portal vein anatomy"
        verbose_name_plural = "portal vein anatomy records"


class HepaticVeinAnatomy(WorkupRecord):
    audit_record_type = "donors.HepaticVeinAnatomy"  # audited under this name since before the workup app
    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="hepatic_vein_records")
    mhv_with_graft = models.BooleanField("middle hepatic vein with the graft")
    v5_mm = models.DecimalField(
        "V5 diameter (mm)",
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="0 when absent; empty when not assessed.",
    )
    v8_mm = models.DecimalField(
        "V8 diameter (mm)",
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="0 when absent; empty when not assessed.",
    )
    inferior_right_hv_mm = models.DecimalField(
        "inferior right hepatic vein diameter (mm)",
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="The largest inferior right hepatic vein; 0 when there is none.",
    )
    history = HistoricalRecords(table_name="donors_historicalhepaticveinanatomy")

    class Meta(WorkupRecord.Meta):
        db_table = "donors_hepaticveinanatomy"
        verbose_name = "hepatic vein anatomy"
        verbose_name_plural = "hepatic vein anatomy records"


class ClearanceKind(models.TextChoices):
    PSYCHOSOCIAL = "psychosocial", "Psychosocial evaluation"
    DONOR_ADVOCATE = "donor_advocate", "Independent living donor advocate"


class ClearanceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CLEARED = "cleared", "Cleared"
    NOT_CLEARED = "not_cleared", "Not cleared"


class Clearance(WorkupRecord):
    """Status only: the evaluations themselves are kept outside this app."""

    audit_record_type = "donors.Clearance"  # audited under this name since before the workup app

    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="clearances")
    clearance_kind = models.CharField("clearance", max_length=16, choices=ClearanceKind.choices)
    clearance_status = models.CharField("status", max_length=12, choices=ClearanceStatus.choices)
    history = HistoricalRecords(table_name="donors_historicalclearance")

    class Meta(WorkupRecord.Meta):
        db_table = "donors_clearance"
        indexes = [models.Index(fields=["donor", "clearance_kind"])]


def default_portal_vein_flag_types() -> list[str]:
    return list(criteria.DEFAULT_THRESHOLDS.portal_vein_flag_types)


class CentreThresholds(models.Model):
    """One centre's workup thresholds: one field per `criteria.Thresholds` setting."""

    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    audit_record_type = "donors.CentreThresholds"  # audited under this name since before the workup app

    centre = models.OneToOneField("donors.Centre", on_delete=models.PROTECT, related_name="thresholds")
    age_min = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.age_min)
    age_max = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.age_max)
    bmi_min = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.bmi_min)
    bmi_max = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.bmi_max)
    bmi_max_without_biopsy = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.bmi_max_without_biopsy)
    grwr_pass = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.grwr_pass)
    grwr_fail_below = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.grwr_fail_below)
    gv_slv_pass = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.gv_slv_pass)
    gv_slv_fail_below = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.gv_slv_fail_below)
    remnant_min = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.remnant_min)
    remnant_margin = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.remnant_margin)
    graft_density = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.graft_density)
    slv_formula = models.CharField(
        max_length=10,
        choices=[("urata", "Urata"), ("vauthey", "Vauthey")],
        default=criteria.DEFAULT_THRESHOLDS.slv_formula,
    )
    bsa_formula = models.CharField(
        max_length=10,
        choices=[("mosteller", "Mosteller"), ("dubois", "DuBois")],
        default=criteria.DEFAULT_THRESHOLDS.bsa_formula,
    )
    biopsy_ideal_below = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.biopsy_ideal_below)
    biopsy_reject_above = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.biopsy_reject_above)
    pdff_flag = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.pdff_flag)
    pdff_reject = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.pdff_reject)
    dual_echo_flag = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.dual_echo_flag)
    dual_echo_reject = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.dual_echo_reject)
    ct_lai_pass_above = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.ct_lai_pass_above)
    ct_lai_fail_below = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.ct_lai_fail_below)
    apri_flag_above = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.apri_flag_above)
    fib4_flag = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.fib4_flag)
    vein_reconstruct_mm = models.FloatField(default=criteria.DEFAULT_THRESHOLDS.vein_reconstruct_mm)
    portal_vein_flag_types = models.JSONField(
        default=default_portal_vein_flag_types,
        blank=True,
        help_text='"scheme:type" pairs flagged as borderline, e.g. "nakamura:D".',
    )
    version = models.PositiveIntegerField(default=1, help_text="Raised by every change; a stale edit is refused.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(table_name="donors_historicalcentrethresholds")

    class Meta:
        db_table = "donors_centrethresholds"
        verbose_name = "centre thresholds"
        verbose_name_plural = "centre thresholds"

    def __str__(self) -> str:
        return f"thresholds of centre {self.centre_id} (version {self.version})"


class DecisionOutcome(models.TextChoices):
    SUITABLE = Status.SUITABLE.value, "Suitable"
    SUITABLE_WITH_CONDITIONS = Status.SUITABLE_WITH_CONDITIONS.value, "Suitable with conditions"
    NOT_SUITABLE = Status.NOT_SUITABLE.value, "Not suitable"


class DecisionState(models.TextChoices):
    OPEN = "open", "Awaiting sign-offs"
    COMPLETE = "complete", "Complete"
    SUPERSEDED = "superseded", "Replaced by a later proposal"


SIGNING_ROLES = (Role.RADIOLOGIST, Role.HEPATOLOGIST, Role.SURGEON)


class Decision(models.Model):
    """The multidisciplinary decision: proposed once, complete when all signing roles signed.

    The checks and thresholds the team saw are stored with it, so the decision keeps stating
    what it was based on after the records or the centre's settings change.
    """

    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    audit_record_type = "donors.Decision"  # audited under this name since before the workup app

    donor = models.ForeignKey("donors.Donor", on_delete=models.PROTECT, related_name="decisions")
    decision_outcome = models.CharField("outcome", max_length=24, choices=DecisionOutcome.choices)
    reasons = models.TextField()
    conditions = models.TextField(blank=True, help_text="Required for suitable with conditions.")
    override_reason = models.TextField(
        blank=True, help_text="Why the donor is accepted although a check fails, is missing or the biliary type is 3."
    )
    overridden = models.JSONField(default=list, blank=True, help_text="What the override reason answers for.")
    biliary_type = models.CharField(max_length=4, blank=True)
    checks_snapshot = models.JSONField(default=list, blank=True)
    thresholds_snapshot = models.JSONField(default=dict, blank=True)
    decision_state = models.CharField("state", max_length=12, choices=DecisionState.choices, default=DecisionState.OPEN)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    status_change = models.ForeignKey(
        "donors.StatusChange", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    history = HistoricalRecords(table_name="donors_historicaldecision")

    class Meta:
        db_table = "donors_decision"
        ordering = ["-proposed_at", "-id"]
        indexes = [models.Index(fields=["donor", "decision_state"])]

    def __str__(self) -> str:
        return f"decision {self.pk}: {self.decision_outcome} ({self.decision_state})"


class DecisionSignOff(models.Model):
    """One signing role's sign-off, by a person signing with their own login."""

    _history_user: User | None  # who made the change, read by HistoricalRecords when the record is saved

    audit_record_type = "donors.DecisionSignOff"  # audited under this name since before the workup app

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="sign_offs")
    signed_as = models.CharField(max_length=16, choices=[(r.value, r.label) for r in SIGNING_ROLES])
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    signed_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(table_name="donors_historicaldecisionsignoff")

    class Meta:
        db_table = "donors_decisionsignoff"
        ordering = ["signed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "signed_as"], name="one_signoff_per_role"),
            models.UniqueConstraint(fields=["decision", "user"], name="one_signoff_per_person"),
        ]

    def __str__(self) -> str:
        return f"sign-off {self.pk} of decision {self.decision_id} as {self.signed_as}"
