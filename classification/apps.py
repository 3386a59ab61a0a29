from django.apps import AppConfig


class ClassificationConfig(AppConfig):
    name = "classification"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from donors.workup_hooks import register_biliary_type_provider

        from .selectors import final_proposed_type

        register_biliary_type_provider(final_proposed_type)
