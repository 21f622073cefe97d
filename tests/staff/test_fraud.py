"""Fraud velocity rules on card payments: refuse or hold; held payments are released or refused by finance."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from djmoney.money import Money

from payments.models import AuditLog, FraudRule, Payment, PaymentAttempt, PaymentHold
from shop.orders.models import Order
from shop.orders.services.checkout import order_place
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.shipping.factories import shipping_method_everywhere


def past_payment(user, *, status=Payment.Status.FAILED, token="tok_declined", minutes_ago=1,
                 error_code=None) -> Payment:
    if error_code is None:
        error_code = "card_declined" if status == Payment.Status.FAILED else ""
    payment = Payment.objects.create(
        user=user, purpose=Payment.Purpose.ORDER, reference=f"SO-PAST-{uuid.uuid4().hex[:6]}",
        method=Payment.Method.CARD, amount=Money("5.00", "USD"), status=status, card_token=token,
        provider_key=f"payment-{uuid.uuid4()}", last_error_code=error_code,
    )
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return payment


def card_checkout(user, token="tok_ok"):
    cart_fill(user, (make_product(price="10.00", on_hand=5), 1))
    return order_place(shipping_method=shipping_method_everywhere(), user=user, payment_method="card", shipping_address=user.addresses.first().pk,
                       currency="USD", card_token=token)


@pytest.mark.django_db
def test_too_many_declines_refuses_the_card_payment_without_calling_the_provider(rates):
    FraudRule.objects.create(name="3 declines an hour", scope="user", window_minutes=60, max_declines=2)
    user = shopper_new()
    past_payment(user)
    past_payment(user)

    result = card_checkout(user)

    assert result.outcome == "declined" and result.order.status == Order.Status.CANCELLED
    payment = Payment.objects.get(pk=result.order.payment_id)
    assert payment.status == Payment.Status.FAILED and payment.last_error_code == "payment_refused"
    assert not PaymentAttempt.objects.filter(payment=payment).exists()


@pytest.mark.django_db
def test_too_many_attempts_per_card_token_refuses_across_users(rates):
    FraudRule.objects.create(name="token burst", scope="token", window_minutes=10, max_attempts=2)
    past_payment(shopper_new(), status=Payment.Status.SUCCEEDED, token="tok_ok")
    past_payment(shopper_new(), status=Payment.Status.SUCCEEDED, token="tok_ok")
    result = card_checkout(shopper_new(), token="tok_ok")
    assert Payment.objects.get(pk=result.order.payment_id).last_error_code == "payment_refused"


@pytest.mark.django_db(transaction=True)
def test_old_attempts_and_inactive_rules_do_not_count(provider, rates):
    FraudRule.objects.create(name="off", scope="user", window_minutes=60, max_declines=1, active=False)
    FraudRule.objects.create(name="short window", scope="user", window_minutes=30, max_declines=1)
    user = shopper_new()
    past_payment(user, minutes_ago=90)
    result = card_checkout(user)
    assert result.order.status == Order.Status.PAID


@pytest.mark.django_db(transaction=True)
def test_a_held_payment_waits_for_finance_who_release_it(provider, rates, support, finance, finance_user):
    FraudRule.objects.create(name="review bursts", scope="user", window_minutes=60, max_attempts=1, action="hold")
    user = shopper_new()
    past_payment(user, status=Payment.Status.SUCCEEDED, token="tok_ok")

    result = card_checkout(user)

    assert result.outcome == "pending" and result.order.status == Order.Status.PENDING_PAYMENT
    payment = Payment.objects.get(pk=result.order.payment_id)
    hold = PaymentHold.objects.get(payment=payment)
    assert payment.status == Payment.Status.PENDING and hold.status == PaymentHold.Status.HELD
    assert not PaymentAttempt.objects.filter(payment=payment).exists()
    listing = support.get("/admin/payments/payment/", {"hold__status": "held"})
    assert listing.status_code == 200 and payment.reference in listing.content.decode()
    assert support.get("/admin/payments/paymenthold/").status_code == 200

    assert support.post("/admin/payments/paymenthold/", {"action": "release", "_selected_action": [hold.pk], "apply": "1", "reason": "ok"}).status_code == 403
    hold.refresh_from_db()
    assert hold.status == PaymentHold.Status.HELD

    response = finance.post(
        "/admin/payments/paymenthold/",
        {"action": "release", "_selected_action": [hold.pk], "apply": "1", "reason": "known customer"},
    )
    assert response.status_code == 302
    hold.refresh_from_db()
    payment.refresh_from_db()
    assert hold.status == PaymentHold.Status.RELEASED and hold.decided_by == finance_user
    assert payment.status == Payment.Status.SUCCEEDED
    assert Order.objects.get(pk=result.order.pk).status == Order.Status.PAID
    released = AuditLog.objects.get(action="payment_hold_release")
    assert (released.actor, released.reason) == (finance_user, "known customer")


@pytest.mark.django_db
def test_finance_refuses_a_held_payment_and_the_order_is_cancelled(rates, finance, finance_user):
    FraudRule.objects.create(name="review", scope="user", window_minutes=60, max_attempts=1, action="hold")
    user = shopper_new()
    past_payment(user, status=Payment.Status.SUCCEEDED, token="tok_ok")
    result = card_checkout(user)
    hold = PaymentHold.objects.get(payment_id=result.order.payment_id)

    response = finance.post(
        "/admin/payments/paymenthold/",
        {"action": "refuse", "_selected_action": [hold.pk], "apply": "1", "reason": "card reported stolen"},
    )

    assert response.status_code == 302
    payment = Payment.objects.get(pk=result.order.payment_id)
    assert payment.status == Payment.Status.FAILED and payment.last_error_code == "payment_refused"
    assert Order.objects.get(pk=result.order.pk).status == Order.Status.CANCELLED
    assert AuditLog.objects.get(action="payment_hold_refuse").actor == finance_user


def _held_checkout():
    FraudRule.objects.create(name="review", scope="user", window_minutes=60, max_attempts=1, action="hold")
    user = shopper_new()
    past_payment(user, status=Payment.Status.SUCCEEDED, token="tok_ok")
    result = card_checkout(user)
    return result.order, PaymentHold.objects.get(payment_id=result.order.payment_id)


@pytest.mark.django_db
def test_cancelling_an_order_with_a_held_payment_voids_it_so_release_can_never_charge(rates, finance):
    from shop.orders.services.transitions import order_cancel

    order, hold = _held_checkout()

    order_cancel(order_id=order.pk, actor=order.user, reason="changed my mind")

    payment = Payment.objects.get(pk=order.payment_id)
    hold.refresh_from_db()
    assert payment.status == Payment.Status.FAILED and payment.last_error_code == "cancelled"
    assert hold.status == PaymentHold.Status.REFUSED
    finance.post(
        "/admin/payments/paymenthold/",
        {"action": "release", "_selected_action": [hold.pk], "apply": "1", "reason": "looks fine"},
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert not PaymentAttempt.objects.filter(payment=payment).exists()


@pytest.mark.django_db
def test_an_expired_reservation_with_a_held_payment_voids_the_payment(rates):
    from shop.orders.services.transitions import order_expire_reservations

    order, hold = _held_checkout()

    assert order_expire_reservations(now=timezone.now() + timedelta(hours=1)) == 1

    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
    assert Payment.objects.get(pk=order.payment_id).status == Payment.Status.FAILED
    hold.refresh_from_db()
    assert hold.status == PaymentHold.Status.REFUSED


@pytest.mark.django_db(transaction=True)
def test_only_card_declines_count_as_declines(provider, rates):
    FraudRule.objects.create(name="2 declines an hour", scope="user", window_minutes=60, max_declines=2)
    user = shopper_new()
    past_payment(user, error_code="card_declined")
    for not_a_decline in ("payment_refused", "processing_error", "max_attempts", "cancelled", "timeout"):
        past_payment(user, error_code=not_a_decline)

    result = card_checkout(user)

    payment = Payment.objects.get(pk=result.order.payment_id)
    assert payment.last_error_code != "payment_refused" and result.order.status == Order.Status.PAID

    past_payment(user, error_code="insufficient_funds")
    assert Payment.objects.get(pk=card_checkout(user).order.payment_id).last_error_code == "payment_refused"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_card_payments_of_one_user_cannot_all_slip_under_the_declines_limit(provider):
    """Six declined cards at once from a user one decline short of the limit: only one reaches the provider."""
    import threading

    from django.db import connection

    from payments.services import charges

    FraudRule.objects.create(name="2 declines an hour", scope="user", window_minutes=60, max_declines=2)
    user = shopper_new(funds=None)
    past_payment(user)
    payments = [
        charges.payment_create(
            user=user, purpose=Payment.Purpose.WALLET_DEPOSIT, reference=f"burst-{n}", amount=Money("5.00", "USD"),
            method=Payment.Method.CARD, card_token="tok_declined",
        )
        for n in range(6)
    ]
    start = threading.Barrier(len(payments))
    errors = []

    def charge(payment_id):
        try:
            start.wait(timeout=10)
            charges.payment_charge_card(payment_id=payment_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=charge, args=(p.pk,)) for p in payments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    charged = PaymentAttempt.objects.filter(payment__in=payments, kind=PaymentAttempt.Kind.CHARGE)
    assert charged.count() == 1
    codes = sorted(Payment.objects.filter(pk__in=[p.pk for p in payments]).values_list("last_error_code", flat=True))
    assert codes == ["card_declined"] + ["payment_refused"] * 5
