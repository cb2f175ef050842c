from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "telehealth.api"
    label = "api"
    verbose_name = "API plumbing"
