from django.apps import AppConfig


class WorkupConfig(AppConfig):
    name = "workup"
    default_auto_field = "django.db.models.BigAutoField"
