from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    label = "payments"

    def ready(self):
        from payments.metrics import payments_metrics_register

        payments_metrics_register()
