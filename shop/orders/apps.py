from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "shop.orders"
    label = "orders"
    verbose_name = _("Orders")

    def ready(self):
        from accounts.privacy import privacy_erase_register, privacy_export_register
        from payments import handlers
        from payments.models import Payment
        from shop.core.reconciliation import reconciliation_check_register
        from shop.orders.privacy import orders_erase, orders_export
        from shop.orders.reconciliation import (
            invoice_numbering_check,
            order_payments_check,
            shipments_within_allocations_check,
            stock_committed_check,
        )
        from shop.orders.services import payment_handlers
        from shop.orders.services.gift_cards import order_refund_recorder_register
        from shop.orders.services.shipments import shipment_carrier_event_apply
        from shop.shipping.handlers import carrier_event_handler_register

        handlers.register(
            Payment.Purpose.ORDER,
            on_succeeded=payment_handlers.order_payment_succeeded,
            on_failed=payment_handlers.order_payment_failed,
            on_refunded=payment_handlers.order_payment_refunded,
        )
        order_refund_recorder_register(payment_handlers.order_refund_record)
        reconciliation_check_register("orders", order_payments_check)
        reconciliation_check_register("shipments", shipments_within_allocations_check)
        reconciliation_check_register("invoices", invoice_numbering_check)
        reconciliation_check_register("stock_committed", stock_committed_check)
        carrier_event_handler_register(shipment_carrier_event_apply)
        privacy_export_register("orders", orders_export)
        privacy_erase_register("orders", orders_erase)

        from allauth.account.signals import email_confirmed

        from shop.orders.services.guest_orders import on_email_confirmed

        email_confirmed.connect(on_email_confirmed, dispatch_uid="orders_guest_orders_attach")

        from shop.orders.metrics import orders_metrics_register

        orders_metrics_register()
