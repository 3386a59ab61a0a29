"""Admin for reference data and accounts; clinical records are changed through the app."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from core.admin import ReadOnlyAdmin

from .models import Centre, Donor, Recipient, StatusChange, User


@admin.register(Centre)
class CentreAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "centre", "roles", "is_centre_admin", "is_active"]
    list_filter = ["centre", "is_active"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Centre and roles", {"fields": ("centre", "roles", "is_centre_admin")}),
    )


@admin.register(Donor)
class DonorAdmin(ReadOnlyAdmin):
    list_display = ["code", "centre", "status", "planned_graft"]
    list_filter = ["centre", "status"]


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdmin):
    list_display = ["code", "centre", "age_years", "diagnosis"]


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["donor", "from_status", "to_status", "changed_by", "changed_at"]
