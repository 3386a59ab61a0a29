from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "imaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # pydicom re-validates every value it converts and only warns about what it finds;
        # the importer makes its own checks (imaging.dicom.header), so skip that work: it is
        # about 40 % of the time spent reading a file.
        from pydicom import config

        config.settings.reading_validation_mode = config.IGNORE
