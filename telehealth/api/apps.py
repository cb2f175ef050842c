from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "telehealth.api"
    label = "api"
    verbose_name = "API plumbing"

    def ready(self) -> None:
        # Registers drf-spectacular field extensions before any schema is generated.
        from telehealth.api import schema_fields  # noqa: F401
