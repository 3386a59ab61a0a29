"""The centres' PACS destinations (set here, audited through the service) and the sends to PACS (read
only: a send is asked for on the report page or through the API)."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from core.audit import actor_from_request

from . import services
from .models import PacsDestination, PacsSend


@admin.register(PacsDestination)
class PacsDestinationAdmin(admin.ModelAdmin):
    list_display = ["centre", "ae_title", "host", "port", "enabled", "updated_at"]
    fields = ["centre", "ae_title", "host", "port", "enabled"]

    def get_readonly_fields(self, request, obj=None):
        return ["centre"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        saved = services.set_pacs_destination(
            actor=actor_from_request(request, channel="admin"),
            centre=obj.centre,
            ae_title=obj.ae_title,
            host=obj.host,
            port=obj.port,
            enabled=obj.enabled,
        )
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False  # switch it off instead: the sends name it


@admin.register(PacsSend)
class PacsSendAdmin(ReadOnlyAdmin):
    list_select_related = ["version", "requested_by"]
    list_display = ["__str__", "destination", "state", "attempts", "requested_by", "requested_at", "finished_at"]
    list_filter = ["state"]
