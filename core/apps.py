from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares and that is about no one subject; imports nothing of the other apps."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import login_audit  # noqa: F401 - connects the lockout receiver
