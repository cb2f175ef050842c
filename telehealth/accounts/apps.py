from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "telehealth.accounts"
    label = "accounts"
    verbose_name = "Accounts"
