import logging

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "telehealth.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from telehealth.accounts import receivers  # noqa: F401  (connects the signal receivers)
        from telehealth.accounts.tasks import HideSMSArguments

        for name in HideSMSArguments.LOGGERS:  # SMS texts carry login codes: keep them out of task logs
            logging.getLogger(name).addFilter(HideSMSArguments())
