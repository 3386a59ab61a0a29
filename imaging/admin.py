"""The DICOM peers in the administration site: read only; they are registered with
`manage.py register_dicom_ae` or the API, which audit the registration."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import DicomPeer


@admin.register(DicomPeer)
class DicomPeerAdmin(ReadOnlyAdmin):
    list_display = ["ae_title", "centre", "host", "created_at"]
    list_filter = ["centre"]
