from django import forms

from .models import SurgicalOutcome
from .outcomes import TECHNIQUE_COUNTS


class OutcomeForm(forms.ModelForm):
    technique = forms.ChoiceField(required=False, choices=[("", "—")] + [(t, t) for t in TECHNIQUE_COUNTS])
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = SurgicalOutcome
        fields = ["operated_on", "anastomoses", "technique", "ductoplasty", "complications"]
        widgets = {
            "operated_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "complications": forms.Textarea(attrs={"rows": 3}),
            "anastomoses": forms.NumberInput(attrs={"min": 1, "max": 8}),
        }

    def validate_unique(self):
        pass
