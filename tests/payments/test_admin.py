"""Admin: the ledger is read-only; payments can be retried now through the service."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from djmoney.money import Money

from payments.models import LedgerEntry, LedgerTransaction, Payment
from payments.services import wallets
from tests.payments.factories import UserFactory, VerifiedUserFactory
from tests.payments.fixtures import wallet_with_balance


@pytest.fixture
def staff_client(db):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_ledger_admin_is_read_only(staff_client):
    wallet = wallet_with_balance(VerifiedUserFactory(), "5.00")
    tx = LedgerTransaction.objects.get()
    entry = LedgerEntry.objects.filter(account=wallet.account).get()
    assert staff_client.get("/admin/payments/ledgertransaction/").status_code == 200
    assert staff_client.get(f"/admin/payments/ledgertransaction/{tx.pk}/change/").status_code == 200
    assert staff_client.get("/admin/payments/ledgertransaction/add/").status_code == 403
    assert staff_client.get("/admin/payments/ledgerentry/add/").status_code == 403
    assert staff_client.post(f"/admin/payments/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    staff_client.post(f"/admin/payments/ledgerentry/{entry.pk}/change/", {"amount": "9.00"})
    entry.refresh_from_db()
    assert str(entry.amount) == "5.00"
    page = staff_client.get("/admin/payments/wallet/")
    assert "5.00" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_retry_now_action_settles_an_unknown_payment(psp, staff_client):
    wallet = wallet_with_balance(VerifiedUserFactory())
    payment = wallets.wallet_deposit(wallet_id=wallet.pk, amount=Money("8.00", "USD"), card_token="tok_timeout")
    assert payment.status == Payment.Status.UNKNOWN
    assert staff_client.get(f"/admin/payments/payment/{payment.pk}/change/").status_code == 200
    asked = staff_client.post("/admin/payments/payment/", {"action": "retry_now", "_selected_action": [payment.pk]})
    assert asked.status_code == 200 and b'name="reason"' in asked.content  # a reason first, like every money action
    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN
    response = staff_client.post(
        "/admin/payments/payment/",
        {"action": "retry_now", "_selected_action": [payment.pk], "apply": "1", "reason": "shopper called"},
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.next_retry_at is None or payment.next_retry_at < timezone.now() + timedelta(days=1)
    wallet.refresh_from_db()
    assert str(wallet.balance) == "8.00"
