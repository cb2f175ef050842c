from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "telehealth.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from telehealth.notifications import doctor_status  # noqa: F401  (connects its signal)
