from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        # Clinical does not know about payments; it announces cancellations and no-shows, and the
        # payments rules (refund, cancel the pending payment) listen here.
        from clinical.hooks import on_consultation_voided
        from payments.services import handle_consultation_voided

        on_consultation_voided(handle_consultation_voided)
