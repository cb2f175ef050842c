from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "clinical"
    verbose_name = "Clinical"

    def ready(self) -> None:
        # Connects the guards that keep issued prescriptions immutable, in every process.
        import clinical.prescriptions.services  # noqa: F401
