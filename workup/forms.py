"""Forms of the workup page: one per record kind (one per steatosis modality and per clearance),
the decision, the sign-off and the centre's thresholds. Forms parse; services decide."""

from __future__ import annotations

import dataclasses
from typing import cast

from django import forms
from django.utils import timezone

from . import criteria
from . import services as wsv
from .models import (
    SIGNING_ROLES,
    CentreThresholds,
    Clearance,
    ClearanceKind,
    DecisionOutcome,
    HepaticArteryAnatomy,
    HepaticVeinAnatomy,
    LabResult,
    PortalVeinAnatomy,
    SteatosisAssessment,
    SteatosisModality,
    Volumetry,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class RecordForm(forms.ModelForm):
    """A new record: the date defaults to today; `supersedes` carries the latest record seen."""

    supersedes = forms.IntegerField(widget=forms.HiddenInput, required=False)
    kind = ""

    def __init__(self, *args, latest=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["measured_on"].widget = DATE
        self.fields["measured_on"].initial = timezone.localdate()
        self.fields["supersedes"].initial = latest.pk if latest else None
        if "note" in self.fields:
            self.fields["note"].widget = forms.Textarea(attrs={"rows": 2})
            self.fields["note"].required = False

    def validate_unique(self):
        pass

    def values(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "supersedes"}


class LabForm(RecordForm):
    kind = "labs"

    class Meta:
        model = LabResult
        fields = list(wsv.KINDS["labs"].fields)
        widgets = {"serology": forms.Textarea(attrs={"rows": 2})}


class VolumetryForm(RecordForm):
    kind = "volumetry"

    class Meta:
        model = Volumetry
        fields = list(wsv.KINDS["volumetry"].fields)

    def __init__(self, *args, density=None, recipient_weight=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["density_factor"].initial = density
        self.fields["recipient_weight_kg"].initial = recipient_weight


class SteatosisForm(RecordForm):
    """One modality's measurement; the other modalities' fields are left out."""

    kind = "steatosis"

    class Meta:
        model = SteatosisAssessment
        fields = list(wsv.KINDS["steatosis"].fields)

    def __init__(self, *args, modality: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.modality = modality
        keep = {"measured_on", "note", "supersedes", "modality", *wsv.STEATOSIS_FIELDS[modality]}
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        self.fields["modality"].widget = forms.HiddenInput()
        self.fields["modality"].initial = modality
        for name in wsv.STEATOSIS_FIELDS[modality]:
            self.fields[name].required = True


class HepaticArteryForm(RecordForm):
    kind = "hepatic-artery"

    class Meta:
        model = HepaticArteryAnatomy
        fields = list(wsv.KINDS["hepatic-artery"].fields)
        widgets = {"unclassified_description": forms.Textarea(attrs={"rows": 2})}


class PortalVeinForm(RecordForm):
    kind = "portal-vein"

    class Meta:
        model = PortalVeinAnatomy
        fields = list(wsv.KINDS["portal-vein"].fields)


class HepaticVeinForm(RecordForm):
    kind = "hepatic-veins"
    mhv_with_graft = forms.TypedChoiceField(
        label="Middle hepatic vein",
        choices=[("", "---------"), ("True", "with the graft"), ("False", "stays with the donor")],
        coerce=lambda value: value == "True",
    )

    class Meta:
        model = HepaticVeinAnatomy
        fields = list(wsv.KINDS["hepatic-veins"].fields)


class ClearanceForm(RecordForm):
    kind = "clearances"

    class Meta:
        model = Clearance
        fields = list(wsv.KINDS["clearances"].fields)

    def __init__(self, *args, clearance_kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clearance_kind"].widget = forms.HiddenInput()
        self.fields["clearance_kind"].initial = clearance_kind


def record_form_key(kind: str, sub: str | None = None) -> str:
    return f"{kind}-{sub}" if sub else kind


# Form key -> (form class, record kind, sub-kind)
RECORD_FORMS: dict[str, tuple[type[RecordForm], str, str | None]] = {
    "labs": (LabForm, "labs", None),
    "volumetry": (VolumetryForm, "volumetry", None),
    **{record_form_key("steatosis", m): (SteatosisForm, "steatosis", m) for m in SteatosisModality.values},
    "hepatic-artery": (HepaticArteryForm, "hepatic-artery", None),
    "portal-vein": (PortalVeinForm, "portal-vein", None),
    "hepatic-veins": (HepaticVeinForm, "hepatic-veins", None),
    **{record_form_key("clearances", k): (ClearanceForm, "clearances", k) for k in ClearanceKind.values},
}


class DecisionForm(forms.Form):
    decision_outcome = forms.ChoiceField(label="Outcome", choices=DecisionOutcome.choices, widget=forms.RadioSelect)
    reasons = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    conditions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        required=False,
        help_text="Required for suitable with conditions.",
    )
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        required=False,
        help_text="Required to accept a donor with biliary type 3, a failing check or a missing one.",
    )
    replaces = forms.IntegerField(widget=forms.HiddenInput, required=False)


class SignForm(forms.Form):
    decision = forms.IntegerField(widget=forms.HiddenInput)
    signed_as = forms.ChoiceField(label="Sign as")
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, required=False)

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["signed_as"]).choices = [
            (r.value, r.label) for r in SIGNING_ROLES if r.value in set(roles)
        ]


class ThresholdsForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    portal_vein_flag_types = forms.MultipleChoiceField(
        choices=[(c, c.replace(":", " ")) for c in wsv.PORTAL_FLAG_CHOICES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Portal vein types flagged as borderline",
    )

    class Meta:
        model = CentreThresholds
        fields = list(wsv.THRESHOLD_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for f in dataclasses.fields(criteria.Thresholds):
            field = self.fields[f.name]
            field.help_text = f"{f.metadata['help']}; default {_shown(f.default)}; source: {f.metadata['source']}"
            if f.name != "portal_vein_flag_types":
                field.label = criteria.threshold_label(f.name)

    def validate_unique(self):
        pass


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)
