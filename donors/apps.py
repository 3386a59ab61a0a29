from django.apps import AppConfig


class DonorsConfig(AppConfig):
    name = "donors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import login_audit  # noqa: F401 - connects the lockout receiver
