"""Wallet and payment API: status codes, idempotency keys, bad input, ownership."""

import socket
import threading
import uuid
from decimal import Decimal

import pytest
import requests
from django.db import OperationalError, connection
from djmoney.money import Money
from rest_framework.test import APIClient

from payments.exceptions import RequestInProgress
from payments.models import IdempotencyKey, LedgerTransaction, Payment, Wallet, Withdrawal
from payments.psp_sandbox.models import SandboxCharge, SandboxPayout
from payments.services import charges, sweep, wallets
from tests.payments.factories import UserFactory, VerifiedUserFactory
from tests.payments.fixtures import wallet_funded_by_card, wallet_with_balance


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def deposit(client, wallet_id, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/v1/wallets/{wallet_id}/deposits/", body, format="json", **headers)


def money(amount, currency="USD"):
    return {"amount": amount, "currency": currency}


@pytest.mark.django_db
def test_open_list_and_show_wallets():
    user = VerifiedUserFactory()
    client = client_for(user)
    response = client.post("/api/v1/wallets/", {"currency": "EUR"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["currency"] == "EUR"
    assert body["balance"] == {"amount": "0.00", "currency": "EUR"}
    again = client.post("/api/v1/wallets/", {"currency": "EUR"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "wallet_exists"
    unknown = client.post("/api/v1/wallets/", {"currency": "XYZ"}, format="json")
    assert unknown.status_code == 400
    listing = client.get("/api/v1/wallets/").json()
    assert listing["count"] == 1
    assert client.get(f"/api/v1/wallets/{body['id']}/").json()["id"] == body["id"]
    assert Wallet.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_opening_a_wallet_needs_a_verified_email():
    user = UserFactory()
    response = client_for(user).post("/api/v1/wallets/", {"currency": "USD"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"
    assert not Wallet.objects.exists()


@pytest.mark.django_db
def test_anonymous_is_refused():
    assert APIClient().get("/api/v1/wallets/").status_code in (401, 403)


@pytest.mark.django_db
def test_someone_elses_wallet_and_payment_are_404():
    owner = VerifiedUserFactory()
    wallet = wallet_with_balance(owner, "10.00")
    payment = charges.payment_create(user=owner, purpose="order", reference="O-1", amount=Money("1.00", "USD"), method="wallet")
    intruder = client_for(VerifiedUserFactory())
    assert intruder.get(f"/api/v1/wallets/{wallet.pk}/").status_code == 404
    assert intruder.get(f"/api/v1/wallets/{wallet.pk}/transactions/").status_code == 404
    assert intruder.get(f"/api/v1/payments/{payment.pk}/").status_code == 404
    response = deposit(intruder, wallet.pk, {"amount": money("5.00"), "card_token": "tok_ok"}, key="k1")
    assert response.status_code == 404
    assert response.json()["code"] == "wallet_not_found"
    response = intruder.post(
        f"/api/v1/wallets/{wallet.pk}/withdrawals/",
        {"amount": money("5.00"), "card_token": "tok_ok"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k2",
    )
    assert response.status_code == 404
    assert not Payment.objects.filter(purpose="wallet_deposit").exists()
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "field_code"),
    [
        (money("-5.00"), "invalid"),
        (money("0"), "invalid"),
        (money("0.00"), "invalid"),
        (money("1.001"), "invalid"),
        (money("abc"), "invalid"),
        (money("NaN"), "invalid"),
        (money("Infinity"), "invalid"),
        ({"amount": 1.5, "currency": "USD"}, "invalid"),
        (money("5.00", "XYZ"), "invalid"),
        ("5.00", "invalid"),
    ],
)
def test_bad_amounts_are_400_and_write_nothing(amount, field_code):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    before = LedgerTransaction.objects.count()
    response = deposit(client_for(user), wallet.pk, {"amount": amount, "card_token": "tok_ok"}, key=str(uuid.uuid4()))
    assert response.status_code == 400
    assert response.json()["code"] == field_code
    assert response.json()["field"].startswith("amount")
    assert not Payment.objects.exists()
    assert LedgerTransaction.objects.count() == before
    assert not IdempotencyKey.objects.exists()
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10.00")


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["deposits", "withdrawals"])
@pytest.mark.parametrize(
    "token", ["4242424242424242", 42, "4242 4242 4242 4242", "", " ", "tok_", "tok_ok;x", "tok_" + "a" * 61]
)
def test_a_card_number_or_any_non_token_is_400_and_writes_nothing(kind, token):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    before = LedgerTransaction.objects.count()
    response = client_for(user).post(
        f"/api/v1/wallets/{wallet.pk}/{kind}/",
        {"amount": money("5.00"), "card_token": token},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_card_token"
    assert response.json()["field"] == "card_token"
    assert "4242" not in response.content.decode()
    assert not Payment.objects.exists()
    assert not Withdrawal.objects.exists()
    assert LedgerTransaction.objects.count() == before
    assert not IdempotencyKey.objects.exists()
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10.00")


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["10000.01", "99999999999.99"])
def test_a_deposit_above_the_limit_is_400_and_writes_nothing(amount):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    response = deposit(client_for(user), wallet.pk, {"amount": money(amount), "card_token": "tok_ok"}, key="big")
    assert response.status_code == 400
    assert response.json()["code"] == "deposit_limit_exceeded"
    assert response.json()["field"] == "amount"
    assert response.json()["limit"] == money("10000.00")
    assert not Payment.objects.exists()
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_deposit_limit_is_a_setting_in_the_wallets_currency(psp, settings):
    settings.WALLET_MAX_DEPOSIT = Decimal("50.00")
    user = VerifiedUserFactory()
    eur = wallet_with_balance(user, currency="EUR")
    client = client_for(user)
    over = deposit(client, eur.pk, {"amount": money("50.01", "EUR"), "card_token": "tok_ok"}, key="over")
    assert over.status_code == 400
    assert over.json()["limit"] == money("50.00", "EUR")
    at_limit = deposit(client, eur.pk, {"amount": money("50.00", "EUR"), "card_token": "tok_ok"}, key="at")
    assert at_limit.status_code == 201
    assert SandboxCharge.objects.count() == 1


@pytest.mark.django_db
def test_wrong_currency_and_closed_wallet_are_refused():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = client_for(user)
    response = deposit(client, wallet.pk, {"amount": money("5.00", "EUR"), "card_token": "tok_ok"}, key="a")
    assert response.status_code == 400
    assert response.json()["code"] == "currency_mismatch"
    wallets.wallet_close(wallet_id=wallet.pk)
    response = deposit(client, wallet.pk, {"amount": money("5.00"), "card_token": "tok_ok"}, key="b")
    assert response.status_code == 409
    assert response.json()["code"] == "wallet_closed"
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_money_moving_posts_need_an_idempotency_key():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    response = deposit(client_for(user), wallet.pk, {"amount": money("5.00"), "card_token": "tok_ok"})
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    response = client_for(user).post(
        f"/api/v1/wallets/{wallet.pk}/withdrawals/", {"amount": money("5.00"), "card_token": "tok_ok"}, format="json"
    )
    assert response.json()["code"] == "idempotency_key_required"
    assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_deposit_statuses_201_202_402(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = client_for(user)
    ok = deposit(client, wallet.pk, {"amount": money("20.00"), "card_token": "tok_ok"}, key="ok")
    assert ok.status_code == 201
    assert ok.json()["status"] == "succeeded"
    assert ok.json()["attempts"][0]["kind"] == "charge"
    declined = deposit(client, wallet.pk, {"amount": money("20.00"), "card_token": "tok_declined"}, key="no")
    assert declined.status_code == 402
    assert declined.json()["code"] == "card_declined"
    poor = deposit(client, wallet.pk, {"amount": money("20.00"), "card_token": "tok_insufficient"}, key="poor")
    assert poor.status_code == 402
    assert poor.json()["code"] == "insufficient_funds"
    unknown = deposit(client, wallet.pk, {"amount": money("20.00"), "card_token": "tok_timeout"}, key="slow")
    assert unknown.status_code == 202
    assert unknown.json()["status"] == "unknown"
    payment_id = unknown.json()["id"]
    assert client.get(f"/api/v1/payments/{payment_id}/").json()["status"] == "unknown"
    statement = client.get(f"/api/v1/wallets/{wallet.pk}/transactions/").json()
    assert statement["count"] == 1
    assert statement["results"][0]["amount"] == money("20.00")
    assert client.get(f"/api/v1/wallets/{wallet.pk}/").json()["balance"] == money("20.00")


@pytest.mark.django_db(transaction=True)
def test_same_key_same_body_replays_the_first_response_and_charges_once(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = client_for(user)
    body = {"amount": money("30.00"), "card_token": "tok_ok"}
    first = deposit(client, wallet.pk, body, key="same-key")
    second = deposit(client, wallet.pk, {"card_token": "tok_ok", "amount": money("30.00")}, key="same-key")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert SandboxCharge.objects.count() == 1
    assert Payment.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="deposit").count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("30.00")
    reused = deposit(client, wallet.pk, {"amount": money("31.00"), "card_token": "tok_ok"}, key="same-key")
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"
    # Keys are per user: another user may use the same key.
    other = VerifiedUserFactory()
    other_wallet = wallet_with_balance(other)
    assert deposit(client_for(other), other_wallet.pk, body, key="same-key").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_declined_answer_is_replayed_not_charged_again(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = client_for(user)
    body = {"amount": money("30.00"), "card_token": "tok_declined"}
    first = deposit(client, wallet.pk, body, key="d")
    second = deposit(client, wallet.pk, body, key="d")
    assert first.status_code == second.status_code == 402
    assert first.json() == second.json()
    assert Payment.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_is_409_request_in_progress(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    # tok_timeout keeps the first request busy for the whole read timeout.
    body = {"amount": money("12.00"), "card_token": "tok_timeout"}
    barrier = threading.Barrier(2)
    responses = []

    def send():
        try:
            barrier.wait()
            responses.append(deposit(client_for(user), wallet.pk, body, key="race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 409]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.json()["code"] == "request_in_progress"
    assert SandboxCharge.objects.count() == 1
    # Once finished, the same key replays the first answer.
    first = next(r for r in responses if r.status_code == 202)
    replay = deposit(client_for(user), wallet.pk, body, key="race")
    assert replay.status_code == 202
    assert replay.json() == first.json()
    assert Payment.objects.count() == 1


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _crash_right_after_the_provider_answers(monkeypatch, path: str):
    """The worker dies (its database connection drops) just after the provider charged or paid out."""
    original = requests.Session.request

    def request_then_crash(session, method, url, *args, **kwargs):
        response = original(session, method, url, *args, **kwargs)
        if method == "POST" and url.endswith(path):
            raise OperationalError("server closed the connection unexpectedly")
        return response

    monkeypatch.setattr(requests.Session, "request", request_then_crash)


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_a_crash_following_the_charge_answers_from_the_payment_and_charges_once(psp, monkeypatch):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = client_for(user)
    client.raise_request_exception = False
    body = {"amount": money("40.00"), "card_token": "tok_ok"}
    _crash_right_after_the_provider_answers(monkeypatch, "v1/charges")
    crashed = deposit(client, wallet.pk, body, key="crash")
    assert crashed.status_code == 500
    assert SandboxCharge.objects.count() == 1  # the provider did charge
    monkeypatch.undo()
    retried = deposit(client, wallet.pk, body, key="crash")
    payment = Payment.objects.get()  # no second payment, so no second provider key
    assert retried.status_code == 202
    assert retried.json()["id"] == payment.pk
    assert retried.json()["status"] == "processing"
    assert SandboxCharge.objects.count() == 1
    # The retry job asks the provider, finds the charge and books it once.
    assert sweep.payment_retry(payment_id=payment.pk).status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="deposit").count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("40.00")
    # The answer given to the retry is now the key's answer.
    again = deposit(client, wallet.pk, body, key="crash")
    assert (again.status_code, again.json()) == (202, retried.json())
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_a_crash_following_a_payout_answers_from_the_withdrawal_and_pays_once(psp, monkeypatch):
    user = VerifiedUserFactory()
    wallet = wallet_funded_by_card(user, "30.00")
    client = client_for(user)
    client.raise_request_exception = False
    url = f"/api/v1/wallets/{wallet.pk}/withdrawals/"
    body = {"amount": money("30.00"), "card_token": "tok_ok"}
    _crash_right_after_the_provider_answers(monkeypatch, "v1/payouts")
    assert client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="w-crash").status_code == 500
    monkeypatch.undo()
    retried = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="w-crash")
    assert retried.status_code == 202
    assert retried.json()["id"] == Withdrawal.objects.get().pk
    assert SandboxPayout.objects.count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("0.00")


def _claim_as_the_api_would(user, wallet, body, key):
    from payments.idempotency import idempotency_key_claim, request_fingerprint

    path = f"/api/v1/wallets/{wallet.pk}/deposits/"
    fingerprint = request_fingerprint(scope="wallet_deposit", method="POST", path=path, body=body)
    return idempotency_key_claim(user=user, key=key, scope="wallet_deposit", fingerprint=fingerprint)


def _lease_runs_out():
    from datetime import timedelta

    from django.utils import timezone

    IdempotencyKey.objects.update(locked_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_holds_its_key_only_for_the_lease_then_a_replay_runs_the_request(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    body = {"amount": money("15.00"), "card_token": "tok_ok"}
    _claim_as_the_api_would(user, wallet, body, "killed")  # the worker died before creating anything
    busy = deposit(client_for(user), wallet.pk, body, key="killed")
    assert busy.status_code == 409
    assert busy.json()["code"] == "request_in_progress"
    assert not Payment.objects.exists()
    _lease_runs_out()
    taken_over = deposit(client_for(user), wallet.pk, body, key="killed")
    assert taken_over.status_code == 201
    assert Payment.objects.count() == SandboxCharge.objects.count() == 1
    assert deposit(client_for(user), wallet.pk, body, key="killed").json() == taken_over.json()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_paying_leaves_a_key_that_answers_from_the_payment_after_the_lease(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    body = {"amount": money("15.00"), "card_token": "tok_ok"}
    claim = _claim_as_the_api_would(user, wallet, body, "killed-late")
    # The dying worker's service ran to the end; the worker died before storing the answer.
    payment = wallets.wallet_deposit(
        wallet_id=wallet.pk, amount=Money("15.00", "USD"), card_token="tok_ok", user=user, idempotency_claim=claim
    )
    assert payment.status == Payment.Status.SUCCEEDED
    assert deposit(client_for(user), wallet.pk, body, key="killed-late").json()["code"] == "request_in_progress"
    _lease_runs_out()
    replay = deposit(client_for(user), wallet.pk, body, key="killed-late")
    assert replay.status_code == 201
    assert replay.json()["id"] == payment.pk
    assert replay.json()["status"] == "succeeded"
    assert Payment.objects.count() == SandboxCharge.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="deposit").count() == 1
    # A different body under the key is still refused.
    other = deposit(client_for(user), wallet.pk, {**body, "amount": money("16.00")}, key="killed-late")
    assert other.json()["code"] == "idempotency_key_reused"


@pytest.mark.django_db(transaction=True)
def test_a_replay_finishes_a_deposit_whose_worker_died_before_charging_it(psp):
    from payments.models import FraudRule, PaymentHold

    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    body = {"amount": money("15.00"), "card_token": "tok_ok"}
    claim = _claim_as_the_api_would(user, wallet, body, "never-charged")
    # Build the state a worker leaves when it dies between creating the payment and charging it:
    # a pending payment recorded on the key (a hold stops the charge; then the hold is gone).
    rule = FraudRule.objects.create(name="hold all", max_attempts=0, action=FraudRule.Verdict.HOLD)
    payment = wallets.wallet_deposit(
        wallet_id=wallet.pk, amount=Money("15.00", "USD"), card_token="tok_ok", user=user, idempotency_claim=claim
    )
    assert payment.status == Payment.Status.PENDING
    PaymentHold.objects.all().delete()
    rule.delete()
    assert not SandboxCharge.objects.exists()
    _lease_runs_out()
    replay = deposit(client_for(user), wallet.pk, body, key="never-charged")
    assert replay.status_code == 201
    assert replay.json()["id"] == payment.pk
    assert Payment.objects.count() == SandboxCharge.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_lost_its_lease_cannot_create_a_second_payment(psp):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    body = {"amount": money("15.00"), "card_token": "tok_ok"}
    slow = _claim_as_the_api_would(user, wallet, body, "slow")
    _lease_runs_out()
    taken_over = deposit(client_for(user), wallet.pk, body, key="slow")  # a replay takes the key over
    assert taken_over.status_code == 201
    # The slow first worker finally reaches its service: it may not create a payment any more.
    with pytest.raises(RequestInProgress):
        wallets.wallet_deposit(
            wallet_id=wallet.pk, amount=Money("15.00", "USD"), card_token="tok_ok", user=user, idempotency_claim=slow
        )
    assert Payment.objects.count() == SandboxCharge.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_withdrawal_api(psp):
    user = VerifiedUserFactory()
    wallet = wallet_funded_by_card(user, "50.00", card_token="tok_ok")
    client = client_for(user)
    url = f"/api/v1/wallets/{wallet.pk}/withdrawals/"
    ok = client.post(url, {"amount": money("20.00"), "card_token": "tok_ok"}, format="json", HTTP_IDEMPOTENCY_KEY="w1")
    assert ok.status_code == 201
    assert ok.json()["status"] == "succeeded"
    replay = client.post(url, {"amount": money("20.00"), "card_token": "tok_ok"}, format="json", HTTP_IDEMPOTENCY_KEY="w1")
    assert replay.json() == ok.json()
    poor = client.post(url, {"amount": money("30.01"), "card_token": "tok_ok"}, format="json", HTTP_IDEMPOTENCY_KEY="w2")
    assert poor.status_code == 402
    assert poor.json()["code"] == "insufficient_funds"
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("30.00")


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_goes_only_to_a_card_that_funded_the_wallet(psp):
    user = VerifiedUserFactory()
    wallet = wallet_funded_by_card(user, "50.00", card_token="tok_ok")
    wallet = wallet_with_balance(user, "25.00")  # money that came in without a card: it funds no card
    client = client_for(user)
    url = f"/api/v1/wallets/{wallet.pk}/withdrawals/"
    # tok_slow never funded this wallet; tok_declined only failed to; tok_ok funded another user's.
    deposit(client, wallet.pk, {"amount": money("5.00"), "card_token": "tok_declined"}, key="declined")
    for token in ("tok_slow", "tok_declined"):
        response = client.post(
            url, {"amount": money("10.00"), "card_token": token}, format="json", HTTP_IDEMPOTENCY_KEY=token
        )
        assert response.status_code == 400
        assert response.json()["code"] == "withdrawal_card_not_allowed"
        assert response.json()["field"] == "card_token"
    other = VerifiedUserFactory()
    other_wallet = wallet_with_balance(other, "20.00")
    response = client_for(other).post(
        f"/api/v1/wallets/{other_wallet.pk}/withdrawals/",
        {"amount": money("10.00"), "card_token": "tok_ok"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert response.json()["code"] == "withdrawal_card_not_allowed"
    assert not Withdrawal.objects.exists()
    assert not SandboxPayout.objects.exists()
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("75.00")
    # The funding card may receive the whole balance, whatever else paid into the wallet.
    ok = client.post(url, {"amount": money("75.00"), "card_token": "tok_ok"}, format="json", HTTP_IDEMPOTENCY_KEY="ok")
    assert ok.status_code == 201
    assert SandboxPayout.objects.get().token == "tok_ok"


@pytest.mark.django_db(transaction=True)
def test_payment_status_shows_safe_attempt_fields_only_and_admin_keeps_the_detail(psp, settings, admin_client):
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    client = client_for(user)
    port = _closed_port()
    settings.PAYMENT_GATEWAY_URL = f"http://127.0.0.1:{port}/internal-psp/"
    down = deposit(client, wallet.pk, {"amount": money("20.00"), "card_token": "tok_ok"}, key="down")
    settings.PAYMENT_GATEWAY_URL = psp
    declined = deposit(client, wallet.pk, {"amount": money("20.00"), "card_token": "tok_insufficient"}, key="poor")
    assert down.status_code == 202
    payment = Payment.objects.get(pk=down.json()["id"])
    raw_error = payment.attempts.get().error
    assert "internal-psp" in raw_error  # what the shop knows, and the customer must not see
    shown = client.get(f"/api/v1/payments/{payment.pk}/")
    assert shown.status_code == 200
    [attempt] = shown.json()["attempts"]
    assert set(attempt) == {"id", "kind", "outcome", "error_code", "message", "latency_ms", "created_at"}
    assert attempt["outcome"] == "retryable"
    assert attempt["error_code"] == "connection_failed"
    assert "nothing was charged" in attempt["message"]
    for leak in ("internal-psp", str(port), "127.0.0.1", "Error:", "sk_sandbox"):
        assert leak not in shown.content.decode()
        assert leak not in down.content.decode()
    assert "internal-psp" not in declined.content.decode()
    assert declined.json()["payment"]["attempts"][0]["message"] == "The card has insufficient funds."
    admin_page = admin_client.get(f"/admin/payments/payment/{payment.pk}/change/")
    assert admin_page.status_code == 200
    assert "internal-psp" in admin_page.content.decode()


@pytest.mark.django_db
def test_statement_date_range_filters_and_rejects_bad_dates():
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user, "10.00")
    client = client_for(user)
    url = f"/api/v1/wallets/{wallet.pk}/transactions/"
    assert client.get(url, {"from": "2000-01-01", "to": "2999-01-01"}).json()["count"] == 1
    assert client.get(url, {"to": "2000-01-01"}).json()["count"] == 0
    bad = client.get(url, {"from": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "from"


@pytest.mark.django_db
def test_prune_keeps_keys_for_24_hours():
    from datetime import timedelta

    from django.utils import timezone

    from payments.tasks import prune_idempotency_keys

    user = VerifiedUserFactory()
    old = IdempotencyKey.objects.create(user=user, key="old", scope="s", fingerprint="f")
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.create(user=user, key="new", scope="s", fingerprint="f")
    assert prune_idempotency_keys.apply(throw=True).result == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_a_deposit_while_our_api_key_is_wrong_is_202_processing_not_a_decline(psp, settings):
    settings.PSP_SANDBOX_API_KEY = "sk_sandbox_dev"
    settings.PSP_API_KEY = "sk_misconfigured"
    user = VerifiedUserFactory()
    wallet = wallet_with_balance(user)
    response = deposit(client_for(user), wallet.pk, {"amount": money("20.00"), "card_token": "tok_ok"}, key="auth")
    assert response.status_code == 202
    assert response.json()["status"] == "processing"
    payment = Payment.objects.get()
    assert payment.last_error_code == "authentication_failed"
    assert payment.next_retry_at is not None
    assert not SandboxCharge.objects.exists()
    # Once the key is fixed, the retry job charges it, once.
    settings.PSP_API_KEY = "sk_sandbox_dev"
    assert sweep.payment_retry(payment_id=payment.pk).status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("20.00")
