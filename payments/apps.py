from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    label = "payments"
    verbose_name = _("Payments and wallets")

    def ready(self):
        from accounts.privacy import privacy_audit_register, privacy_erase_register, privacy_export_register
        from payments.privacy import (
            payments_erase,
            payments_export,
            privacy_audit_record,
            wallet_statements_export,
        )

        privacy_export_register("payments", payments_export)
        privacy_export_register("wallet_statements", wallet_statements_export)
        privacy_erase_register("payments", payments_erase)
        privacy_audit_register("payments", privacy_audit_record)
        from payments.metrics import payments_metrics_register

        payments_metrics_register()
