from typing import cast

from django import forms

from core.models import AuditEvent

from .models import AboGroup, Donor, Graft, Recipient
from .workflow import Status


class DonorForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Donor
        fields = [
            "code",
            "mrn",
            "given_name",
            "family_name",
            "date_of_birth",
            "sex",
            "height_cm",
            "weight_kg",
            "abo",
            "relationship",
            "planned_graft",
            "recipient",
        ]
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, centre_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["recipient"]).queryset = Recipient.objects.filter(centre_id=centre_id)
        self.fields["height_cm"].help_text = "cm"
        self.fields["weight_kg"].help_text = "kg"
        for name in ("date_of_birth", "height_cm", "weight_kg"):
            self.fields[name].required = True

    def validate_unique(self):
        # Uniqueness within the centre is a service rule; the form has no centre field.
        pass


class RecipientForm(forms.ModelForm):
    class Meta:
        model = Recipient
        fields = ["code", "age_years", "weight_kg", "abo", "diagnosis", "diagnosis_detail", "own_duct_usable"]

    def validate_unique(self):
        pass


class TransitionForm(forms.Form):
    to_status = forms.ChoiceField(label="New status")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["to_status"]).choices = [(s.value, Status(s).label) for s in targets]


class DonorSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any status")] + [(s.value, s.label) for s in Status])
    graft = forms.ChoiceField(required=False, choices=[("", "Any graft")] + Graft.choices)
    abo = forms.ChoiceField(required=False, choices=[("", "Any ABO")] + AboGroup.choices)


class AuditSearchForm(forms.Form):
    donor_code = forms.CharField(required=False)
    username = forms.CharField(required=False, label="User")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(required=False, choices=[("", "Any")] + list(AuditEvent.Kind.choices))
