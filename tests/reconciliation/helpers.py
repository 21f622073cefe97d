"""Seed real shop data through the services, and discrepancies straight into the tables (bypassing them)."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from djmoney.money import Money

from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, Refund, Wallet, Withdrawal
from payments.psp_sandbox.models import SandboxCharge, SandboxPayout, SandboxRefund
from payments.services import refunds
from shop.orders.services.checkout import order_place
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.shipping.factories import shipping_method_everywhere


def clean_day() -> dict:
    """A wallet order, a card order with a partial card refund: everything agrees."""
    user = shopper_new(funds="100.00")
    first, second = make_product(price="10.00", on_hand=10), make_product(price="7.50", on_hand=5)
    cart_fill(user, (first, 2))
    wallet_order = order_place(
        shipping_method=shipping_method_everywhere(),
        user=user, payment_method="wallet", shipping_address=user.addresses.first().pk, currency="USD"
    ).order
    cart_fill(user, (second, 1))
    card_order = order_place(
        shipping_method=shipping_method_everywhere(),
        user=user, payment_method="card", shipping_address=user.addresses.first().pk, currency="USD",
        card_token="tok_ok",
    ).order
    assert (wallet_order.status, card_order.status) == ("paid", "paid"), Payment.objects.values_list("status", "last_error_code", "last_error")
    card_payment = Payment.objects.get(pk=card_order.payment_id)
    refunds.payment_refund(
        payment_id=card_payment.pk, amount=Money("2.50", "USD"), reference=f"{card_order.number}-goodwill",
        reason="goodwill",
    )
    return {"user": user, "wallet_order": wallet_order, "card_order": card_order, "products": [first, second]}


def unbalanced_entry(*, account: LedgerAccount, amount: str, days_ago: int = 0) -> LedgerTransaction:
    """A transaction with a single leg. On PostgreSQL the balance trigger is bypassed for this one insert."""
    tx = LedgerTransaction.objects.create(reference=f"seed-{uuid.uuid4()}", kind=LedgerTransaction.Kind.ADJUSTMENT)
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:  # the triggers refuse a back-dated transaction and a single leg: seeding only
            cursor.execute("SET session_replication_role = replica")
        try:
            if days_ago:
                LedgerTransaction.objects.filter(pk=tx.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
            LedgerEntry.objects.create(transaction=tx, account=account, amount=Decimal(amount), currency=account.currency)
        finally:
            if postgres:
                cursor.execute("SET session_replication_role = DEFAULT")
    return tx


def card_payment(*, user, amount="10.00", currency="USD", status=Payment.Status.SUCCEEDED, purpose=None, wallet=None,
                 reference="") -> Payment:
    key = f"payment-{uuid.uuid4()}"
    return Payment.objects.create(
        user=user, purpose=purpose or Payment.Purpose.WALLET_DEPOSIT, reference=reference or f"seed-{key[-6:]}",
        method=Payment.Method.CARD, amount=Money(amount, currency), status=status, provider_key=key,
        card_token="tok_ok", wallet=wallet, settled_at=timezone.now() if status != Payment.Status.UNKNOWN else None,
        provider_charge_id="",
    )


def provider_charge(*, key: str, amount="10.00", currency="USD", status="succeeded") -> SandboxCharge:
    return SandboxCharge.objects.create(
        idempotency_key=key, amount=Money(amount, currency), token="tok_ok", reference="seed", status=status
    )


def our_refund(*, payment: Payment, amount="1.00", currency="USD") -> Refund:
    return Refund.objects.create(
        payment=payment, amount=Money(amount, currency), reference=f"seed-refund-{uuid.uuid4()}",
        status=Refund.Status.SUCCEEDED,
    )


def provider_refund(*, charge: SandboxCharge, key: str, amount="1.00", currency="USD", status="succeeded"):
    return SandboxRefund.objects.create(
        idempotency_key=key, charge=charge, amount=Money(amount, currency), reference="seed", status=status
    )


def wallet_of(user) -> Wallet:
    return Wallet.objects.get(user=user, currency="USD")


def our_withdrawal(*, wallet: Wallet, amount="3.00", currency="USD", status=Withdrawal.Status.SUCCEEDED) -> Withdrawal:
    return Withdrawal.objects.create(wallet=wallet, amount=Money(amount, currency), card_token="tok_ok", status=status)


def provider_payout(*, key: str, amount="3.00", currency="USD", status="succeeded") -> SandboxPayout:
    return SandboxPayout.objects.create(
        idempotency_key=key, amount=Money(amount, currency), token="tok_ok", reference="seed", status=status
    )
