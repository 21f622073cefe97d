"""Every state-changing action in payments' admin needs a finance permission and a reason, and is audited
after its outcome (a refusal as a refusal)."""

import pytest
from djmoney.money import Money

from payments.models import AuditLog, FraudRule, Payment, PaymentAttempt, PaymentHold, Wallet
from payments.services import wallets
from tests.payments.factories import VerifiedUserFactory
from tests.payments.fixtures import wallet_with_balance
from tests.staff.test_fraud import _held_checkout

WALLETS = "/admin/payments/wallet/"
PAYMENTS = "/admin/payments/payment/"
HOLDS = "/admin/payments/paymenthold/"


def act(client, url, action, ids, **form):
    return client.post(url, {"action": action, "_selected_action": list(ids), **form})


@pytest.mark.django_db
def test_only_finance_holds_the_close_and_retry_permissions(support_user, finance_user):
    for perm in ("payments.close_wallet", "payments.retry_payment"):
        assert not support_user.has_perm(perm) and finance_user.has_perm(perm), perm


@pytest.mark.django_db
def test_support_cannot_close_wallets(support):
    wallet = wallet_with_balance(VerifiedUserFactory(), "0")

    assert act(support, WALLETS, "close_wallets", [wallet.pk]).status_code == 403
    assert act(support, WALLETS, "close_wallets", [wallet.pk], apply="1", reason="fraud").status_code == 403

    wallet.refresh_from_db()
    assert wallet.status == Wallet.Status.OPEN
    assert not AuditLog.objects.exists()


@pytest.mark.django_db
def test_finance_closes_an_empty_wallet_with_a_reason_and_a_refusal_is_audited_as_one(finance, finance_user):
    empty = wallet_with_balance(VerifiedUserFactory(), "0")
    funded = wallet_with_balance(VerifiedUserFactory(), "5.00")

    asked = act(finance, WALLETS, "close_wallets", [empty.pk, funded.pk])
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    no_reason = act(finance, WALLETS, "close_wallets", [empty.pk, funded.pk], apply="1", reason="")
    assert no_reason.status_code == 200 and b"errorlist" in no_reason.content
    assert not AuditLog.objects.exists() and Wallet.objects.filter(status=Wallet.Status.CLOSED).count() == 0

    done = act(finance, WALLETS, "close_wallets", [empty.pk, funded.pk], apply="1", reason="customer asked")
    assert done.status_code == 302

    empty.refresh_from_db()
    funded.refresh_from_db()
    assert (empty.status, funded.status) == (Wallet.Status.CLOSED, Wallet.Status.OPEN)
    closed = AuditLog.objects.get(action="wallet_close")
    assert (closed.actor, closed.object_id, closed.reason, closed.data["outcome"]) == (
        finance_user, str(empty.pk), "customer asked", "closed"
    )
    refused = AuditLog.objects.get(action="wallet_close_refused")
    assert (refused.object_id, refused.reason, refused.data["outcome"], refused.data["error"]) == (
        str(funded.pk), "customer asked", "refused", "wallet_not_empty"
    )
    assert AuditLog.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_support_cannot_retry_a_payment_now(provider, support):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = wallets.wallet_deposit(wallet_id=wallet.pk, amount=Money("8.00", "USD"), card_token="tok_timeout")
    assert payment.status == Payment.Status.UNKNOWN
    attempts = PaymentAttempt.objects.filter(payment=payment).count()

    assert act(support, PAYMENTS, "retry_now", [payment.pk]).status_code == 403

    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN
    assert PaymentAttempt.objects.filter(payment=payment).count() == attempts
    assert not AuditLog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_finance_retries_a_payment_now_and_the_audit_holds_the_outcome(provider, finance, finance_user):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = wallets.wallet_deposit(wallet_id=wallet.pk, amount=Money("8.00", "USD"), card_token="tok_timeout")

    assert act(finance, PAYMENTS, "retry_now", [payment.pk], apply="1", reason="provider was down").status_code == 302

    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    entry = AuditLog.objects.get(action="payment_retry")
    assert (entry.actor, entry.object_id, entry.reason, entry.data["was"], entry.data["now"]) == (
        finance_user, str(payment.pk), "provider was down", "unknown", "succeeded"
    )


@pytest.mark.django_db
def test_fraud_rules_are_finance_only_and_even_a_deletion_is_audited(support, roles):
    from tests.payments.factories import UserFactory
    from tests.staff.conftest import client_for

    rule = FraudRule.objects.create(name="burst", scope="user", window_minutes=10, max_attempts=3)
    form = {"name": "burst", "scope": "user", "window_minutes": 5, "max_attempts": 1, "action": "refuse"}
    assert support.post("/admin/payments/fraudrule/add/", form).status_code == 403
    assert support.post(f"/admin/payments/fraudrule/{rule.pk}/change/", form).status_code == 403
    rule.refresh_from_db()
    assert (rule.window_minutes, rule.active) == (10, True)

    owner = UserFactory(is_staff=True, is_superuser=True)
    done = client_for(owner).post(f"/admin/payments/fraudrule/{rule.pk}/delete/", {"post": "yes"})
    assert done.status_code == 302 and not FraudRule.objects.exists()
    entry = AuditLog.objects.get(action="fraud_rule_delete")
    assert (entry.actor, entry.object_id, entry.data["name"]) == (owner, str(rule.pk), "burst")


@pytest.mark.django_db
def test_releasing_or_refusing_a_hold_asks_why_and_audits_the_given_reason(rates, finance, finance_user):
    order, hold = _held_checkout()

    asked = act(finance, HOLDS, "refuse", [hold.pk])
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    assert act(finance, HOLDS, "refuse", [hold.pk], apply="1", reason="  ").status_code == 200
    hold.refresh_from_db()
    assert hold.status == PaymentHold.Status.HELD

    assert act(finance, HOLDS, "refuse", [hold.pk], apply="1", reason="card reported stolen").status_code == 302

    hold.refresh_from_db()
    assert hold.status == PaymentHold.Status.REFUSED
    entry = AuditLog.objects.get(action="payment_hold_refuse")
    assert (entry.actor, entry.reason) == (finance_user, "card reported stolen")
    assert Payment.objects.get(pk=order.payment_id).last_error == "card reported stolen"
