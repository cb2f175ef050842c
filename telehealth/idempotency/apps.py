from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "telehealth.idempotency"
    label = "idempotency"
    verbose_name = "Idempotency keys"
