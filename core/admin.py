"""Admin shared by every app: the audited read-only admin for clinical records, the audit trail
and the API tokens (their pages are under /admin/core/)."""

from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from .audit import actor_from_request
from .models import ApiClient, AuditEvent
from .services import record_admin_read
from .tokens import revoke_api_client


class ReadOnlyAdmin(SimpleHistoryAdmin):
    """Clinical records are read here; every change goes through the audited services.

    Every list, record, history and past version shown is audited, as the app's pages are."""

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl") if response.status_code == 200 else None
        if changelist is not None:
            record_admin_read(
                actor=actor_from_request(request, channel="admin"),
                records=list(changelist.result_list),
                model=self.model,
                view="list",
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = getattr(response, "context_data", {}).get("original") if response.status_code == 200 else None
        if shown is not None:
            record_admin_read(
                actor=actor_from_request(request, channel="admin"),
                records=[shown],
                model=self.model,
                view="record",
            )
        return response

    def render_history_view(self, request, template, context, **kwargs):
        # Both history pages render here: the list of changes ("object") and one past version ("original").
        response = super().render_history_view(request, template, context, **kwargs)
        shown = context.get("original") or context.get("object")
        if response.status_code == 200 and shown is not None:
            record_admin_read(
                actor=actor_from_request(request, channel="admin"),
                records=[shown],
                model=self.model,
                view="past version" if "original" in context else "history",
            )
        return response

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "kind", "record_type", "donor_code", "channel", "ip_address"]
    list_filter = ["kind", "channel", "centre"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "user", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = ["key_prefix", "key_hash", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # issued with `manage.py issue_api_token`, which shows the key once

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for client in queryset:
            revoke_api_client(client=client)
        messages.success(request, f"Revoked {queryset.count()} token(s).")
