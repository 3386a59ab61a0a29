"""The workup's records in the admin: read-only and audited, like the donors' (changes go through the app)."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import (
    CentreThresholds,
    Clearance,
    Decision,
    DecisionSignOff,
    HepaticArteryAnatomy,
    HepaticVeinAnatomy,
    LabResult,
    PortalVeinAnatomy,
    SteatosisAssessment,
    Volumetry,
)

for workup_model in (
    LabResult,
    Volumetry,
    SteatosisAssessment,
    HepaticArteryAnatomy,
    PortalVeinAnatomy,
    HepaticVeinAnatomy,
    Clearance,
    Decision,
    DecisionSignOff,
    CentreThresholds,
):
    admin.site.register(workup_model, ReadOnlyAdmin)
