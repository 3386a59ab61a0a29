from django.apps import AppConfig


class DonorsConfig(AppConfig):
    name = "donors"
    default_auto_field = "django.db.models.BigAutoField"
